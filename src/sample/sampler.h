/*
 * sampler.h - kvlm's token sampler, internal view (the public API and the
 * order of the sampling chain are documented in include/kvlm.h).
 *
 * Invariants: a sampler owns n_vocab entries of candidate scratch and
 * n_vocab penalty counters that are all zero between calls, so sampling
 * never allocates. Probabilities are computed in double from float logits;
 * the random state changes only in kvlm_sampler_sample with temperature > 0.
 */
#ifndef KVLM_SAMPLE_SAMPLER_H
#define KVLM_SAMPLE_SAMPLER_H

#include "kvlm.h"

/* The probability of every token after the whole chain, as the next draw
 * would use it: probs_out[t] for t in [0, n_vocab), 0 for the tokens a step
 * removed, a one-hot vector when temperature is 0. Same arguments and errors
 * as kvlm_sampler_sample; the random state is not touched. For tests and
 * for tools that show the distribution. */
kvlm_status kvlm_sampler_probs(kvlm_sampler *s, const float *logits,
                               const int32_t *history, int n_history,
                               float *probs_out);

/* The sampler's parameters as validated at creation (logit_bias points to
 * the sampler's own copy). */
const kvlm_sampler_params *kvlm_sampler_get_params(const kvlm_sampler *s);

#endif /* KVLM_SAMPLE_SAMPLER_H */
