/*
 * Process liveness from /proc, for ring ownership words (pid + low 32
 * bits of the start time, see pathstats_shm.h).  A process is proven dead
 * only by evidence: its /proc/<pid>/stat is gone, it is a zombie, or the
 * pid now belongs to a process with another start time.  Never by a
 * timeout: a stopped (SIGSTOP) worker is alive and may resume.  The
 * aggregator must see nginx's pid namespace.
 */

#ifndef PS_PROC_H
#define PS_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Parses the text of a /proc/<pid>/stat file: the state letter (field 3)
 * and starttime (field 22, clock ticks since boot).  The command name
 * (field 2) may hold spaces and ')', so fields are counted from the last
 * ')'.  0, or -1 if the text is malformed. */
int ps_proc_parse_stat(const char *text, size_t len, char *state,
    uint64_t *starttime);

/* Reads /proc/<pid>/stat: 1 with state and starttime set, 0 when there is
 * no such process, -1 when /proc cannot tell (unreadable, or hiding an
 * existing process: hidepid), logged. */
int ps_proc_stat(pid_t pid, char *state, uint64_t *starttime);

/* Start time of this process, for an ownership word; 0 or -1. */
int ps_proc_self_start(uint32_t *start);

/* 1 when the owner of an ownership word is proven dead, 0 when it is alive
 * or that cannot be proven (an unreadable /proc, or an owner stamped
 * without a start time, whose pid may since have been reused). */
int ps_proc_owner_dead(uint64_t owner);

#endif /* PS_PROC_H */
