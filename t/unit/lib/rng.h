/*
 * A seeded pseudo-random sequence for the C unit tests (splitmix64): the
 * same numbers on every run and machine, so that a failure repeats.
 */

#ifndef PS_TEST_RNG_H
#define PS_TEST_RNG_H

#include <stdint.h>

/* The next number of the sequence that *state (any seed) holds. */
static inline uint64_t
rng_next(uint64_t *state)
{
    uint64_t  z;

    z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}

/* A number in (0, 1) from it. */
static inline double
rng_unit_next(uint64_t *state)
{
    return ((double) (rng_next(state) >> 11) + 0.5) / 9007199254740992.0;
}

#endif /* PS_TEST_RNG_H */
