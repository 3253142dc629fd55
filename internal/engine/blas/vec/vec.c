//go:build cgo && !noblas

// Vectorized element-wise kernels for vec_cgo.go. Each computes exactly what
// the Go code in exp.go computes (same operations in the same order, no
// contraction into FMAs: -std=c11 implies -ffp-contract=off, checked below), so cgo and pure-Go builds give
// identical results. target_clones has GCC emit AVX-512, AVX2 and baseline
// versions, picked at load time.

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "vec.h"

#if !defined(__STRICT_ANSI__)
#error "vec.c must be compiled in ISO C mode (-std=c11) so GCC does not fuse a*b+c into FMAs"
#endif

#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

// exp_fast is Exp32's common path, valid for -87.33654 <= x <= 88.0.
static inline float exp_fast(float x) {
	const float log2e = 1.44269504088896341f, ln2hi = 0.693359375f, ln2lo = -2.12194440e-4f;
	const float magic = 12582912.0f;
	float n = (x * log2e + magic) - magic;
	float r = x - n * ln2hi;
	r = r - n * ln2lo;
	float p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	int32_t bits = ((int32_t)n + 127) << 23;
	float s;
	memcpy(&s, &bits, 4);
	return p * s;
}

// exp_slow is Exp32 outside the fast range (NaN, overflow, subnormal).
static float exp_slow(float x) {
	if (x != x) return x;
	if (x > 88.72283f) return INFINITY;
	if (x < -103.97208f) return 0.0f;
	if (x < -87.33654f) return (float)exp((double)x);
	// 88.0 < x <= 88.72283: 2^n may overflow alone.
	const float log2e = 1.44269504088896341f, ln2hi = 0.693359375f, ln2lo = -2.12194440e-4f;
	const float magic = 12582912.0f;
	float n = (x * log2e + magic) - magic;
	float r = x - n * ln2hi;
	r = r - n * ln2lo;
	float p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	int32_t ni = (int32_t)n;
	float s;
	if (ni > 127) {
		int32_t bits = (ni + 126) << 23;
		memcpy(&s, &bits, 4);
		return p * 2.0f * s;
	}
	int32_t bits = (ni + 127) << 23;
	memcpy(&s, &bits, 4);
	return p * s;
}

static inline int in_fast(float x) { return x >= -87.33654f && x <= 88.0f; }

// any_slow reports whether any of x[0..m) is outside exp_fast's range or
// NaN, and any_slow_sig whether any -|x[i]| is (as the sigmoids call exp):
// branch-free reductions that vectorize, so a block whose inputs are all in
// range (nearly every block) skips its scalar patch loop.
static inline int any_slow(const float *x, size_t m) {
	int any = 0;
	for (size_t i = 0; i < m; i++) any |= !(x[i] >= -87.33654f) | !(x[i] <= 88.0f);
	return any;
}

static inline int any_slow_sig(const float *x, size_t m) {
	int any = 0;
	for (size_t i = 0; i < m; i++) any |= !(x[i] >= -87.33654f) | !(x[i] <= 87.33654f);
	return any;
}

static inline float exp_any(float v) {
	float c = v < -87.33654f ? -87.33654f : (v > 88.0f ? 88.0f : v);
	return exp_fast(c == c ? c : 0.0f);
}

// sigmoid_of computes 1/(1+e^-v) from e = Exp32(-|v|), as Go's Sigmoid.
static inline float sigmoid_of(float v, float e) { return v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e); }

static inline float neg_abs(float v) { return v < 0.0f ? v : -v; }

// Work goes in blocks of BLOCK elements whose inputs are first copied to
// the stack, so outputs may alias inputs. In each block a branch-free loop
// (it vectorizes) runs the fast path on clamped inputs; then, only when a
// vectorized check finds any, a second loop patches the rare elements
// outside the fast range.
#define BLOCK 512

CLONES void whet_exp(float *dst, const float *x, size_t n) {
	float xl[BLOCK];
	for (size_t b = 0; b < n; b += BLOCK) {
		size_t m = n - b < BLOCK ? n - b : BLOCK;
		memcpy(xl, x + b, m * sizeof(float));
		float *d = dst + b;
		for (size_t i = 0; i < m; i++) d[i] = exp_any(xl[i]);
		if (any_slow(xl, m))
			for (size_t i = 0; i < m; i++)
				if (!in_fast(xl[i])) d[i] = exp_slow(xl[i]);
	}
}

CLONES void whet_sigmoid(float *dst, const float *x, size_t n) {
	float xl[BLOCK];
	for (size_t b = 0; b < n; b += BLOCK) {
		size_t m = n - b < BLOCK ? n - b : BLOCK;
		memcpy(xl, x + b, m * sizeof(float));
		float *d = dst + b;
		for (size_t i = 0; i < m; i++) d[i] = sigmoid_of(xl[i], exp_any(neg_abs(xl[i])));
		if (any_slow_sig(xl, m))
			for (size_t i = 0; i < m; i++)
				if (!in_fast(neg_abs(xl[i]))) d[i] = sigmoid_of(xl[i], exp_slow(neg_abs(xl[i])));
	}
}

CLONES void whet_silu(float *dst, const float *x, size_t n) {
	float xl[BLOCK];
	for (size_t b = 0; b < n; b += BLOCK) {
		size_t m = n - b < BLOCK ? n - b : BLOCK;
		memcpy(xl, x + b, m * sizeof(float));
		float *d = dst + b;
		for (size_t i = 0; i < m; i++) d[i] = xl[i] * sigmoid_of(xl[i], exp_any(neg_abs(xl[i])));
		if (any_slow_sig(xl, m))
			for (size_t i = 0; i < m; i++)
				if (!in_fast(neg_abs(xl[i]))) d[i] = xl[i] * sigmoid_of(xl[i], exp_slow(neg_abs(xl[i])));
	}
}

CLONES void whet_silu_mul(float *dst, const float *g, const float *u, size_t n) {
	float gl[BLOCK], ul[BLOCK];
	for (size_t b = 0; b < n; b += BLOCK) {
		size_t m = n - b < BLOCK ? n - b : BLOCK;
		memcpy(gl, g + b, m * sizeof(float));
		memcpy(ul, u + b, m * sizeof(float));
		float *d = dst + b;
		for (size_t i = 0; i < m; i++) d[i] = gl[i] * sigmoid_of(gl[i], exp_any(neg_abs(gl[i]))) * ul[i];
		if (any_slow_sig(gl, m))
			for (size_t i = 0; i < m; i++)
				if (!in_fast(neg_abs(gl[i]))) d[i] = gl[i] * sigmoid_of(gl[i], exp_slow(neg_abs(gl[i]))) * ul[i];
	}
}

// swiglu_bw: s = sigmoid(g); du = dy·(g·s); dg = (dy·u)·(s·(1 + g·(1 - s))).
static inline void swiglu_bw(float *dg, float *du, float dy, float g, float u, float s) {
	*du = dy * (g * s);
	*dg = dy * u * (s * (1.0f + g * (1.0f - s)));
}

CLONES void whet_swiglu_backward(float *dg, float *du, const float *dy, const float *g, const float *u, size_t n) {
	float yl[BLOCK], gl[BLOCK], ul[BLOCK];
	for (size_t b = 0; b < n; b += BLOCK) {
		size_t m = n - b < BLOCK ? n - b : BLOCK;
		memcpy(yl, dy + b, m * sizeof(float));
		memcpy(gl, g + b, m * sizeof(float));
		memcpy(ul, u + b, m * sizeof(float));
		float *dgb = dg + b, *dub = du + b;
		for (size_t i = 0; i < m; i++) {
			float v = gl[i];
			float s = sigmoid_of(v, exp_any(neg_abs(v)));
			dub[i] = yl[i] * (v * s);
			dgb[i] = yl[i] * ul[i] * (s * (1.0f + v * (1.0f - s)));
		}
		if (any_slow_sig(gl, m))
			for (size_t i = 0; i < m; i++) {
				float v = gl[i];
				if (!in_fast(neg_abs(v))) swiglu_bw(&dgb[i], &dub[i], yl[i], v, ul[i], sigmoid_of(v, exp_slow(neg_abs(v))));
			}
	}
}

// whet_swiglu_saved: s = sigmoid(g); out = (g·s)·u, keeping s for
// whet_swiglu_backward_saved. Outputs may alias inputs.
CLONES void whet_swiglu_saved(float *out, float *sig, const float *g, const float *u, size_t n) {
	float gl[BLOCK], ul[BLOCK], sl[BLOCK];
	for (size_t b = 0; b < n; b += BLOCK) {
		size_t m = n - b < BLOCK ? n - b : BLOCK;
		memcpy(gl, g + b, m * sizeof(float));
		memcpy(ul, u + b, m * sizeof(float));
		for (size_t i = 0; i < m; i++) sl[i] = sigmoid_of(gl[i], exp_any(neg_abs(gl[i])));
		if (any_slow_sig(gl, m))
			for (size_t i = 0; i < m; i++)
				if (!in_fast(neg_abs(gl[i]))) sl[i] = sigmoid_of(gl[i], exp_slow(neg_abs(gl[i])));
		float *o = out + b;
		for (size_t i = 0; i < m; i++) o[i] = gl[i] * sl[i] * ul[i];
		memcpy(sig + b, sl, m * sizeof(float));
	}
}

// whet_swiglu_backward_saved: from the saved s = sigmoid(g),
// du = (dy·g)·s and dg = ((dy·u)·s)·(1 + g·(1 - s)). Outputs may alias inputs.
CLONES void whet_swiglu_backward_saved(float *dg, float *du, const float *dy, const float *g, const float *u, const float *s, size_t n) {
	float yl[BLOCK], gl[BLOCK], ul[BLOCK], sl[BLOCK];
	for (size_t b = 0; b < n; b += BLOCK) {
		size_t m = n - b < BLOCK ? n - b : BLOCK;
		memcpy(yl, dy + b, m * sizeof(float));
		memcpy(gl, g + b, m * sizeof(float));
		memcpy(ul, u + b, m * sizeof(float));
		memcpy(sl, s + b, m * sizeof(float));
		float *dgb = dg + b, *dub = du + b;
		for (size_t i = 0; i < m; i++) {
			float v = gl[i], si = sl[i], d = yl[i];
			dub[i] = d * v * si;
			dgb[i] = d * ul[i] * si * (1.0f + v * (1.0f - si));
		}
	}
}

// sumsq8/dot8: float64 sums in 8 interleaved partial sums (element i goes to
// partial i%8), added up as ((p0+p1)+(p2+p3))+((p4+p5)+(p6+p7)): the order
// rmsnormGo uses, so both give the same bits. The 8-wide inner loops
// vectorize.
static inline double sum8(const double *p) { return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7])); }

// whet_rmsnorm_rows: for each of n rows of d elements,
// rs = 1/sqrt(mean(x²) + eps) (in double), out = w·(x·rs); rstd[r] = rs
// (rstd may be NULL). out may alias x.
CLONES void whet_rmsnorm_rows(float *out, float *rstd, const float *x, const float *w, size_t n, size_t d, float eps) {
	for (size_t r = 0; r < n; r++) {
		const float *xr = x + r * d;
		float *o = out + r * d;
		double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
		size_t i = 0;
		for (; i + 8 <= d; i += 8)
			for (int j = 0; j < 8; j++) p[j] += (double)xr[i + j] * (double)xr[i + j];
		for (int j = 0; i + j < d; j++) p[j] += (double)xr[i + j] * (double)xr[i + j];
		float rs = (float)(1.0 / sqrt(sum8(p) / (double)d + (double)eps));
		if (rstd) rstd[r] = rs;
		for (size_t j = 0; j < d; j++) o[j] = w[j] * (xr[j] * rs);
	}
}

// whet_rmsnorm_backward_rows: for each row, with rs = rstd[r],
// c = (float)(Σ (w·dout)·x / d)·rs·rs·rs (the sum in double) and
// dx (+)= (rs·w)·dout − c·x.
CLONES void whet_rmsnorm_backward_rows(float *dx, const float *dout, const float *x, const float *w, const float *rstd, size_t n, size_t d, int accumulate) {
	for (size_t r = 0; r < n; r++) {
		const float *xr = x + r * d, *dr = dout + r * d;
		float *dxr = dx + r * d;
		float rs = rstd[r];
		double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
		size_t i = 0;
		for (; i + 8 <= d; i += 8)
			for (int j = 0; j < 8; j++) p[j] += (double)(w[i + j] * dr[i + j]) * (double)xr[i + j];
		for (int j = 0; i + j < d; j++) p[j] += (double)(w[i + j] * dr[i + j]) * (double)xr[i + j];
		float c = (float)(sum8(p) / (double)d) * rs * rs * rs;
		if (accumulate)
			for (size_t j = 0; j < d; j++) dxr[j] += rs * w[j] * dr[j] - c * xr[j];
		else
			for (size_t j = 0; j < d; j++) dxr[j] = rs * w[j] * dr[j] - c * xr[j];
	}
}

// whet_exp_sum_row: row[0..n) (n ≥ 1) becomes exp(row − max), with
// *mx = max (NaNs ignored, as Go's `if v > mx`); returns Σ exp(row − max)
// in double over 8 interleaved partials (sum8's order). expSumGo computes
// the same bits.
CLONES double whet_exp_sum_row(float *row, size_t n, float *mx) {
	float pm[16];
	for (int j = 0; j < 16; j++) pm[j] = -INFINITY;
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		for (int j = 0; j < 16; j++) pm[j] = row[i + j] > pm[j] ? row[i + j] : pm[j];
	for (int j = 0; i + j < n; j++) pm[j] = row[i + j] > pm[j] ? row[i + j] : pm[j];
	float m = pm[0];
	for (int j = 1; j < 16; j++) m = pm[j] > m ? pm[j] : m;
	*mx = m;
	double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
	float xl[BLOCK];
	for (size_t b = 0; b < n; b += BLOCK) {
		size_t k = n - b < BLOCK ? n - b : BLOCK;
		float *d = row + b;
		for (size_t i = 0; i < k; i++) xl[i] = d[i] - m;
		for (size_t i = 0; i < k; i++) d[i] = exp_any(xl[i]);
		if (any_slow(xl, k))
			for (size_t i = 0; i < k; i++)
				if (!in_fast(xl[i])) d[i] = exp_slow(xl[i]);
		size_t i = 0; // BLOCK is a multiple of 8: element b+i goes to partial i%8
		for (; i + 8 <= k; i += 8)
			for (int j = 0; j < 8; j++) p[j] += (double)d[i + j];
		for (int j = 0; i + j < k; j++) p[j] += (double)d[i + j];
	}
	return sum8(p);
}

// whet_prob_grad_row: from scores s and their log-sum-exp l, s[j] becomes
// the probability exp(s[j] − l) and dp[j] the score gradient
// p[j]·(dp[j] − d). probGradGo computes the same bits.
CLONES void whet_prob_grad_row(float *s, float *dp, size_t n, float l, float d) {
	float xl[BLOCK];
	for (size_t b = 0; b < n; b += BLOCK) {
		size_t k = n - b < BLOCK ? n - b : BLOCK;
		float *sb = s + b, *db = dp + b;
		for (size_t i = 0; i < k; i++) xl[i] = sb[i] - l;
		for (size_t i = 0; i < k; i++) sb[i] = exp_any(xl[i]);
		if (any_slow(xl, k))
			for (size_t i = 0; i < k; i++)
				if (!in_fast(xl[i])) sb[i] = exp_slow(xl[i]);
		for (size_t i = 0; i < k; i++) db[i] = sb[i] * (db[i] - d);
	}
}
