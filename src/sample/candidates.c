/*
 * candidates.c - top-k and top-p selection over ranked candidates (see
 * candidates.h).
 *
 * Top-k: the k best are found with a bounded heap whose root is the worst
 * of the k best seen so far, so each later token costs one comparison
 * unless it beats the root, and then O(log k) to sift. Only the k winners
 * are sorted. With k much smaller than n (40 of a 152k vocabulary) this is
 * close to one linear pass, and no candidate is written for the others.
 *
 * Top-p: quickselect on summed probability mass (essay above
 * kvlm_cand_top_p).
 */
#include "sample/candidates.h"

#include <math.h>
#include <stdlib.h>

/* a ranks before b: higher w, or equal w and lower id. */
static int cand_before(const kvlm_cand *a, const kvlm_cand *b)
{
    return a->w > b->w || (a->w == b->w && a->id < b->id);
}

static int cand_cmp(const void *pa, const void *pb)
{
    const kvlm_cand *a = pa, *b = pb;
    if (cand_before(a, b)) return -1;
    if (cand_before(b, a)) return 1;
    return 0;
}

/* Heap of m entries whose root ranks last: every parent ranks after (or is)
 * each of its children. */
static void sift_down(kvlm_cand *h, int m, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, last = i;
        if (l < m && cand_before(&h[last], &h[l])) last = l;
        if (r < m && cand_before(&h[last], &h[r])) last = r;
        if (last == i) return;
        kvlm_cand t = h[i];
        h[i] = h[last];
        h[last] = t;
        i = last;
    }
}

int kvlm_cand_top_k(const double *w, int n, int k, kvlm_cand *out)
{
    int m = 0;
    if (k <= 0) return 0;
    for (int i = 0; i < n; i++) {
        if (w[i] == -INFINITY) continue;
        kvlm_cand x = {w[i], 0.0, i};
        if (m < k) {
            out[m++] = x;
            if (m == k)
                for (int j = k / 2 - 1; j >= 0; j--) sift_down(out, k, j);
        } else if (cand_before(&x, &out[0])) {
            out[0] = x;
            sift_down(out, k, 0);
        }
    }
    qsort(out, (size_t)m, sizeof *out, cand_cmp);
    return m;
}

static void cand_swap(kvlm_cand *a, kvlm_cand *b)
{
    kvlm_cand t = *a;
    *a = *b;
    *b = t;
}

/* Partitions c[lo, hi) around a median-of-three pivot: returns mid with
 * c[lo, mid) ranked before c[mid] (the pivot) and c[mid+1, hi) after it. */
static int partition(kvlm_cand *c, int lo, int hi)
{
    int a = lo, b = lo + (hi - lo) / 2, z = hi - 1;
    /* order the three samples so that c[b] is their median */
    if (cand_before(&c[b], &c[a])) cand_swap(&c[a], &c[b]);
    if (cand_before(&c[z], &c[b])) {
        cand_swap(&c[b], &c[z]);
        if (cand_before(&c[b], &c[a])) cand_swap(&c[a], &c[b]);
    }
    cand_swap(&c[b], &c[z]); /* pivot at the end */
    int mid = lo;
    for (int i = lo; i < z; i++)
        if (cand_before(&c[i], &c[z])) cand_swap(&c[i], &c[mid++]);
    cand_swap(&c[mid], &c[z]);
    return mid;
}

/*
 * Invariant of the loop: every candidate in c[0, lo) ranks before every one
 * in c[lo, hi), which rank before every one in c[hi, n); acc is the mass of
 * c[0, lo) and is < top_p, so the boundary (the last kept candidate) is in
 * c[lo, hi) - or the total never reaches top_p and everything is kept.
 * Each round partitions c[lo, hi) and keeps the side holding the boundary.
 */
int kvlm_cand_top_p(kvlm_cand *c, int n, double top_p)
{
    int lo = 0, hi = n, rounds = 0;
    double acc = 0.0;
    while (hi - lo > 32) {
        if (++rounds > 64) break; /* degenerate pivots: sort what is left */
        int mid = partition(c, lo, hi);
        double s = 0.0;
        for (int i = lo; i < mid; i++) s += c[i].p;
        if (acc + s >= top_p) {
            hi = mid;
            continue;
        }
        acc += s;
        if (acc + c[mid].p >= top_p) return mid + 1;
        acc += c[mid].p;
        lo = mid + 1;
    }
    qsort(c + lo, (size_t)(hi - lo), sizeof *c, cand_cmp);
    for (int i = lo; i < hi; i++) {
        acc += c[i].p;
        if (acc >= top_p) return i + 1;
    }
    return n;
}
