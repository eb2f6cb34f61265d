/*
 * rng.h - the sampler's pseudo-random number generator: xoshiro256**
 * (Blackman and Vigna), seeded from one uint64 through splitmix64.
 *
 * Invariants: the state is never all zero (splitmix64 cannot produce four
 * zero words in a row from any seed); the sequence depends only on the seed,
 * never on the platform, the C library or the time, so seeded sampling is
 * reproducible everywhere. Not for cryptography.
 */
#ifndef KVLM_SAMPLE_RNG_H
#define KVLM_SAMPLE_RNG_H

#include <stdint.h>

typedef struct kvlm_rng {
    uint64_t s[4];
} kvlm_rng;

/* Sets the state from a seed (any value, 0 included). */
void kvlm_rng_seed(kvlm_rng *r, uint64_t seed);
/* Next 64 random bits. */
uint64_t kvlm_rng_next(kvlm_rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double kvlm_rng_uniform(kvlm_rng *r);

#endif /* KVLM_SAMPLE_RNG_H */
