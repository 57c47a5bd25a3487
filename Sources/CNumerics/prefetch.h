#ifndef RADA_PREFETCH_H
#define RADA_PREFETCH_H

#include <stddef.h>

/* Software prefetch of the weight panel a packed kernel reads next (the fp32 AVX-512F and portable
 * tiles, AVX512-BF16 and AVX512-FP16; not part of the module's interface). A product streams every panel once per row block, and at
 * batch 1 (50 rows) only a few row tiles use each panel: without this, the first tile waited for
 * the panel to arrive from L3 or memory, and one fp16 thread ran ViT-B/32's batch-1 shapes at
 * about 180 GFLOP/s against 300 with it (batch-8 shapes 290 against 320), and one fp32 thread
 * its 200-row shares of a batch of 8 at 93–138 against 136–149. The next panel's lines
 * are split between the current panel's row tiles, and each tile asks for its share a few lines
 * per step of its input loop, into L2: a panel (48–192 KiB) is larger than L1. */
typedef struct {
    const char *first; /* the tile's first line */
    int lines;         /* lines in the tile's share */
    int per_step;      /* lines asked for per step */
} rada_prefetch;

/* Tile `tile` of `tiles`'s share of the `bytes` at `next` (NULL: nothing, as for a thread's last
 * panel), over `steps` steps. */
static inline rada_prefetch rada_prefetch_share(const void *next, size_t bytes, int tiles, int tile, int steps) {
    rada_prefetch none = {0, 0, 0};
    if (next == NULL || tiles <= 0 || steps <= 0) return none;
    int lines = (int)((bytes + 63) / 64), share = (lines + tiles - 1) / tiles, first = tile * share;
    int count = lines - first < share ? lines - first : share;
    if (count <= 0) return none;
    rada_prefetch share_of_tile = {(const char *)next + 64 * (size_t)first, count, (count + steps - 1) / steps};
    return share_of_tile;
}

/* How many steps, from the first, ask for lines (the rest ask for none). */
static inline int rada_prefetch_steps(rada_prefetch p) {
    return p.per_step > 0 ? (p.lines + p.per_step - 1) / p.per_step : 0;
}

/* The lines of step `step`: prefetcht1 (locality 2), which never faults. */
static inline void rada_prefetch_step(rada_prefetch p, int step) {
    int end = (step + 1) * p.per_step < p.lines ? (step + 1) * p.per_step : p.lines;
    for (int line = step * p.per_step; line < end; line++) __builtin_prefetch(p.first + 64 * (size_t)line, 0, 2);
}

#endif
