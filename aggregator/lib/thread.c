/*
 * Thread roles: see thread.h.
 */

#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/thread.h"


void
ps_thread_background(const char *name)
{
    int    now;
    pid_t  tid;

    (void) pthread_setname_np(pthread_self(), name);

    /* Linux: a thread's nice value is its own, set by its id */
    tid = (pid_t) syscall(SYS_gettid);

    errno = 0;
    now = getpriority(PRIO_PROCESS, (id_t) tid);
    if (now == -1 && errno != 0) {
        return;
    }

    (void) setpriority(PRIO_PROCESS, (id_t) tid,
                       now + PS_THREAD_BACKGROUND_NICE);
}
