#include "cnumerics_attention.h"
#include "cnumerics.h"
#include "target_clones.h"

#include <math.h>

RADA_CLONES
void rada_attention_head(const float *q, const float *k, const float *v, int ld, int length,
                         int head_width, float scale, int causal, float *scratch, float *out,
                         int ldo) {
    for (int i = 0; i < length; i++) {
        const float *qi = q + (size_t)i * ld;
        int keys = causal ? i + 1 : length;
        for (int j = 0; j < keys; j++) {
            const float *kj = k + (size_t)j * ld;
            float dot = 0.0f;
            {
                /* Reassociating this one sum lets it vectorise; it changes rounding only. */
#pragma clang fp reassociate(on)
                for (int d = 0; d < head_width; d++) dot += qi[d] * kj[d];
            }
            scratch[j] = dot;
        }
        /* The same softmax as the unfused path, so both round alike. */
        rada_softmax_rows(scratch, 1, (size_t)keys, scale);
        float *oi = out + (size_t)i * ldo;
        for (int d = 0; d < head_width; d++) oi[d] = 0.0f;
        for (int j = 0; j < keys; j++) {
            const float *vj = v + (size_t)j * ld;
            float p = scratch[j];
            for (int d = 0; d < head_width; d++) oi[d] += p * vj[d];
        }
    }
}
