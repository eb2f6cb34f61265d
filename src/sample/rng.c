/*
 * rng.c - xoshiro256** seeded by splitmix64 (see rng.h).
 *
 * Both algorithms are written here from their published definitions: the
 * state update uses only 64-bit shifts, rotations, xors and a multiply, so
 * the output is bit-identical on every platform.
 */
#include "sample/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void kvlm_rng_seed(kvlm_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t kvlm_rng_next(kvlm_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double kvlm_rng_uniform(kvlm_rng *r)
{
    return (double)(kvlm_rng_next(r) >> 11) * 0x1.0p-53;
}
