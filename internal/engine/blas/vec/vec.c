//go:build cgo && !noblas

// Vectorized element-wise kernels for vec_cgo.go. Each computes exactly what
// the Go code in exp.go computes (same operations in the same order, no
// contraction into FMAs: -std=c11 implies -ffp-contract=off, checked below), so cgo and pure-Go builds give
// identical results. target_clones has GCC emit AVX-512, AVX2 and baseline
// versions, picked at load time.

#include <immintrin.h>
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

CLONES static void exp_generic(float *dst, const float *x, size_t n) {
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
CLONES static void swiglu_saved_generic(float *out, float *sig, const float *g, const float *u, size_t n) {
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
CLONES static double exp_sum_row_generic(float *row, size_t n, float *mx) {
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
CLONES static void prob_grad_row_generic(float *s, float *dp, size_t n, float l, float d) {
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

// AVX-512 versions of the exp-based kernels the training pass runs most
// (GCC's vectorization of the generic loops above runs them about 2.5×
// slower). They apply exactly the operations of exp_fast and the generic
// loops, lane by lane (explicit mul and add, no FMA), so they give the same
// bits; a 16-lane vector with any input outside exp_fast's range runs
// through the scalar code instead, as does each tail. whet_vec_generic(1)
// makes every call take the generic path (tests compare the two).

static int vec_mode = -1; // -1 unknown, 0 generic, 1 AVX-512

void whet_vec_generic(int on) { vec_mode = on ? 0 : -1; }

static inline int use512(void) {
	if (vec_mode < 0) {
		__builtin_cpu_init();
		vec_mode = __builtin_cpu_supports("avx512f") ? 1 : 0;
	}
	return vec_mode;
}

#define T512 __attribute__((target("avx512f")))

T512 static inline __m512 exp_fast16(__m512 x) {
	const __m512 magic = _mm512_set1_ps(12582912.0f);
	__m512 n = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), magic), magic);
	__m512 r = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f)));
	r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(-2.12194440e-4f)));
	__m512 p = _mm512_set1_ps(1.9875691500e-4f);
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
	p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
	p = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), r), _mm512_set1_ps(1.0f));
	__m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
	return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

// slow16 is the mask of lanes outside exp_fast's range (NaN included).
T512 static inline __mmask16 slow16(__m512 x) {
	return ~(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33654f), _CMP_GE_OQ) & _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.0f), _CMP_LE_OQ));
}

static inline float exp_one(float x) { return in_fast(x) ? exp_fast(x) : exp_slow(x); }

T512 static void exp_512(float *dst, const float *x, size_t n) {
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m512 v = _mm512_loadu_ps(x + i);
		if (slow16(v)) {
			float t[16];
			_mm512_storeu_ps(t, v);
			for (int j = 0; j < 16; j++) dst[i + j] = exp_one(t[j]);
			continue;
		}
		_mm512_storeu_ps(dst + i, exp_fast16(v));
	}
	for (; i < n; i++) dst[i] = exp_one(x[i]);
}

void whet_exp(float *dst, const float *x, size_t n) {
	if (use512()) exp_512(dst, x, n);
	else exp_generic(dst, x, n);
}

T512 static void swiglu_saved_512(float *out, float *sig, const float *g, const float *u, size_t n) {
	const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m512 v = _mm512_loadu_ps(g + i), uv = _mm512_loadu_ps(u + i);
		__m512 neg = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000)));
		__m512 na = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), neg, v); // neg_abs
		if (slow16(na)) {
			float gl[16], ul[16];
			_mm512_storeu_ps(gl, v);
			_mm512_storeu_ps(ul, uv);
			for (int j = 0; j < 16; j++) {
				float s = sigmoid_of(gl[j], exp_one(neg_abs(gl[j])));
				sig[i + j] = s;
				out[i + j] = gl[j] * s * ul[j];
			}
			continue;
		}
		__m512 e = exp_fast16(na);
		__m512 num = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GE_OQ), e, one);
		__m512 s = _mm512_div_ps(num, _mm512_add_ps(one, e));
		_mm512_storeu_ps(sig + i, s);
		_mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(v, s), uv));
	}
	for (; i < n; i++) {
		float gv = g[i], uv = u[i];
		float s = sigmoid_of(gv, exp_one(neg_abs(gv)));
		sig[i] = s;
		out[i] = gv * s * uv;
	}
}

void whet_swiglu_saved(float *out, float *sig, const float *g, const float *u, size_t n) {
	if (use512()) swiglu_saved_512(out, sig, g, u, n);
	else swiglu_saved_generic(out, sig, g, u, n);
}

T512 static double exp_sum_row_512(float *row, size_t n, float *mx) {
	__m512 pm = _mm512_set1_ps(-INFINITY);
	size_t i = 0;
	for (; i + 16 <= n; i += 16) pm = _mm512_max_ps(_mm512_loadu_ps(row + i), pm); // row > pm ? row : pm
	float pl[16];
	_mm512_storeu_ps(pl, pm);
	for (int j = 0; i + j < n; j++) pl[j] = row[i + j] > pl[j] ? row[i + j] : pl[j];
	float m = pl[0];
	for (int j = 1; j < 16; j++) m = pl[j] > m ? pl[j] : m;
	*mx = m;
	// Element i goes to double partial i%8: the low 8 lanes of a vector
	// before its high 8, as the generic loop adds them.
	__m512d p = _mm512_setzero_pd();
	__m512 mv = _mm512_set1_ps(m);
	i = 0;
	for (; i + 16 <= n; i += 16) {
		__m512 x = _mm512_sub_ps(_mm512_loadu_ps(row + i), mv);
		__m512 e;
		if (slow16(x)) {
			float t[16];
			_mm512_storeu_ps(t, x);
			for (int j = 0; j < 16; j++) t[j] = exp_one(t[j]);
			e = _mm512_loadu_ps(t);
		} else {
			e = exp_fast16(x);
		}
		_mm512_storeu_ps(row + i, e);
		p = _mm512_add_pd(p, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
		p = _mm512_add_pd(p, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
	}
	double pd[8];
	_mm512_storeu_pd(pd, p);
	for (int j = 0; i + j < n; j++) {
		float e = exp_one(row[i + j] - m);
		row[i + j] = e;
		pd[j % 8] += (double)e;
	}
	return sum8(pd);
}

double whet_exp_sum_row(float *row, size_t n, float *mx) {
	if (use512()) return exp_sum_row_512(row, n, mx);
	return exp_sum_row_generic(row, n, mx);
}

T512 static void prob_grad_row_512(float *s, float *dp, size_t n, float l, float d) {
	const __m512 lv = _mm512_set1_ps(l), dv = _mm512_set1_ps(d);
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m512 x = _mm512_sub_ps(_mm512_loadu_ps(s + i), lv);
		__m512 p;
		if (slow16(x)) {
			float t[16];
			_mm512_storeu_ps(t, x);
			for (int j = 0; j < 16; j++) t[j] = exp_one(t[j]);
			p = _mm512_loadu_ps(t);
		} else {
			p = exp_fast16(x);
		}
		_mm512_storeu_ps(s + i, p);
		_mm512_storeu_ps(dp + i, _mm512_mul_ps(p, _mm512_sub_ps(_mm512_loadu_ps(dp + i), dv)));
	}
	for (; i < n; i++) {
		float p = exp_one(s[i] - l);
		s[i] = p;
		dp[i] = p * (dp[i] - d);
	}
}

void whet_prob_grad_row(float *s, float *dp, size_t n, float l, float d) {
	if (use512()) prob_grad_row_512(s, dp, n, l, d);
	else prob_grad_row_generic(s, dp, n, l, d);
}
