/*
 * candidates.h - candidate tokens of the sampling chain and their order.
 *
 * A candidate is a token id with a working value w (a logit, later an
 * unnormalized probability). Candidates are ranked by w descending, then by
 * id ascending: a total order, so every selection below has exactly one
 * answer whatever the input arrangement, and ties keep the lower ids.
 */
#ifndef KVLM_SAMPLE_CANDIDATES_H
#define KVLM_SAMPLE_CANDIDATES_H

#include <stdint.h>

typedef struct kvlm_cand {
    double w;   /* the value that ranks the candidate */
    double p;   /* scratch for kvlm_cand_top_p: the probability */
    int32_t id;
} kvlm_cand;

/* Rearranges c[0, n) so that c[0, m) holds the m best candidates in rank
 * order (best first); c[m, n) holds the others in no particular order.
 * O(n log m) time, no memory beyond c. m is clamped to [0, n]. */
void kvlm_cand_select_top(kvlm_cand *c, int n, int m);

/* Nucleus (top-p) selection. c[i].p holds each candidate's probability.
 * Finds the smallest rank prefix whose probabilities, summed, reach top_p
 * and moves it to c[0, k); returns k (n when the rounded total stays under
 * top_p). c[0, k) is in no particular order. Expected O(n): quickselect
 * partitions that add up the mass on one side, then a sort of at most a few
 * dozen candidates next to the boundary (a full sort if the partitions
 * degenerate). */
int kvlm_cand_top_p(kvlm_cand *c, int n, double top_p);

#endif /* KVLM_SAMPLE_CANDIDATES_H */
