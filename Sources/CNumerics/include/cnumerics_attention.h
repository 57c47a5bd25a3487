#ifndef RADA_CNUMERICS_ATTENTION_H
#define RADA_CNUMERICS_ATTENTION_H

#ifdef __cplusplus
extern "C" {
#endif

/** One attention head over one sequence: out_i = Σ_j softmax_j(scale · q_i·k_j) v_j, with j ≤ i
 *  when `causal`. q, k, v are `length` rows of `head_width` values, `ld` apart (the stacked QKV
 *  buffer); out rows are `ldo` apart. `scratch` holds `length` floats. Query by query, so the
 *  scores never leave L1 and no length × length buffer is needed. */
void rada_attention_head(const float *q, const float *k, const float *v, int ld, int length,
                         int head_width, float scale, int causal, float *scratch, float *out,
                         int ldo);

#ifdef __cplusplus
}
#endif
#endif
