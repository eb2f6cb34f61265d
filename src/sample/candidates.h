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

/* The k best tokens of w[0, n) (w indexed by token id; -INFINITY entries
 * are skipped) written to out[0, m) in rank order, best first; returns m =
 * min(k, number of finite entries). out has room for k entries. One pass
 * over w with a bounded heap: O(n log k) worst case, close to O(n) in
 * practice since most entries lose one comparison against the heap root. */
int kvlm_cand_top_k(const double *w, int n, int k, kvlm_cand *out);

/* Nucleus (top-p) selection. c[i].p holds each candidate's probability.
 * Finds the smallest rank prefix whose probabilities, summed, reach top_p
 * and moves it to c[0, k); returns k (n when the rounded total stays under
 * top_p). c[0, k) is in no particular order. Expected O(n): quickselect
 * partitions that add up the mass on one side, then a sort of at most a few
 * dozen candidates next to the boundary (a full sort if the partitions
 * degenerate). */
int kvlm_cand_top_p(kvlm_cand *c, int n, double top_p);

#endif /* KVLM_SAMPLE_CANDIDATES_H */
