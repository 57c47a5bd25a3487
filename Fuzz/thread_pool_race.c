/* rada_pool_run (Sources/CNumerics/thread_pool.c) under ThreadSanitizer: three callers at once,
 * 2-8 parts a job, some jobs slow enough that the caller sleeps, pauses long enough that the
 * pool threads sleep; before them, the first job must be shared with the pool threads it starts. Each part writes its own slot with plain stores, so a claim that ran a part
 * twice, or a caller that returned before a part finished, is a data race TSan reports (or a
 * count the check below rejects). `make tsan-pool`. */
#include "cnumerics.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct { int parts; int *counts; long long *sums; int sleep_us; } job_t;
static void part_fn(void *context, int part) {
    job_t *job = context;
    job->counts[part] += 1;
    long long s = 0;
    for (int i = 0; i < 1000 * (part + 1); i++) s += i ^ part;
    job->sums[part] = s;
    if (job->sleep_us) usleep(job->sleep_us);
}
static atomic_int pooled, inline_runs;
static void *caller(void *arg) {
    long id = (long)arg;
    for (int it = 0; it < 3000; it++) {
        int parts = 2 + (int)((it * 7 + id) % 7);
        int counts[16] = {0}; long long sums[16] = {0};
        job_t job = {parts, counts, sums, (it % 500 == 0) ? 3000 : 0};
        if (rada_pool_run(parts, part_fn, &job)) atomic_fetch_add(&pooled, 1);
        else { /* busy with another caller: run the parts here, as BLAS.parallel does on Dispatch */
            for (int p = 0; p < parts; p++) part_fn(&job, p);
            atomic_fetch_add(&inline_runs, 1);
        }
        for (int p = 0; p < parts; p++) if (counts[p] != 1) { printf("part %d ran %d times\n", p, counts[p]); abort(); }
        if (it % 1000 == 0) usleep(20000); /* the pool threads fall asleep */
    }
    return NULL;
}
/* The very first job starts the pool threads, and they must take part in it: a thread that
 * read the job counter at its own start could miss the job published meanwhile. Four parts of
 * 5 ms, so a woken thread has 15 ms to claim one. */
typedef struct { pthread_t caller; atomic_int off_caller; } first_job_t;
static void first_part(void *context, int part) {
    first_job_t *job = context;
    (void)part;
    if (!pthread_equal(pthread_self(), job->caller)) atomic_fetch_add(&job->off_caller, 1);
    usleep(5000);
}

int main(void) {
    if (rada_pool_cores() >= 2) {
        first_job_t job = {pthread_self(), 0};
        if (!rada_pool_run(4, first_part, &job) || atomic_load(&job.off_caller) == 0) {
            printf("the first job ran on the caller alone\n");
            return 1;
        }
    }
    pthread_t t[3];
    for (long i = 0; i < 3; i++) pthread_create(&t[i], NULL, caller, (void *)i);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    printf("ok: %d pooled, %d inline, cores %d\n", atomic_load(&pooled), atomic_load(&inline_runs), rada_pool_cores());
    return 0;
}
