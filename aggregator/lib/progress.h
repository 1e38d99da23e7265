/*
 * Progress of a long command-line run (lifecycle, archive, restore,
 * backup --full, verify) on a terminal: one line on stderr, rewritten in
 * place at most PS_PROGRESS_EVERY_US apart (rows done, rows/s, and with
 * a known total the share done and the ETA), ended with a newline.
 * When stderr is not a terminal nothing is written, so logs and pipes
 * stay as they were.  One run at a time per process: the steps below a
 * command (store/pg) report their rows with ps_progress_rows() without
 * knowing whether anyone shows them; the daemon never begins a run, so
 * its scheduler's calls do nothing.
 */

#ifndef PS_PROGRESS_H
#define PS_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#define PS_PROGRESS_EVERY_US  250000      /* at most 4 redraws a second */
#define PS_PROGRESS_LINE_MAX  160

/* Writes the progress text of what after done rows in elapsed_us
 * (total < 0: unknown) into buf, e.g. "restore: 1200/2400 rows (50%),
 * 600 rows/s, ETA 0:02" or "archive: 1200 rows, 600 rows/s"; returns
 * its length (truncated to size - 1). */
size_t ps_progress_format(char *buf, size_t size, const char *what,
    int64_t done, int64_t total, uint64_t elapsed_us);

/* Writes seconds as "M:SS", or "H:MM:SS" from an hour on, into buf;
 * returns buf. */
char *ps_progress_eta(char *buf, size_t size, int64_t seconds);

/* Begins a run named what (a static string) with total rows (-1:
 * unknown); shown only when stderr is a terminal. */
void ps_progress_begin(const char *what, int64_t total);

/* Sets the total once it is known (-1: unknown). */
void ps_progress_total(int64_t total);

/* Adds n rows done; redraws when the last draw is old enough. */
void ps_progress_rows(int64_t n);

/* Sets the rows done (a step that learned the exact count). */
void ps_progress_set(int64_t done);

/* Erases the line (before something else is printed on the terminal);
 * the next redraw brings it back. */
void ps_progress_clear(void);

/* Draws the final line and a newline (if shown) and ends the run. */
void ps_progress_end(void);

#endif /* PS_PROGRESS_H */
