// Whetstone's CUDA kernels: the element-wise, normalisation, attention, loss,
// quantisation and optimiser ops of a training step. Dense products go
// through cuBLASLt; everything else is here. Activations are float32,
// bfloat16 values are raw uint16 bits (round to nearest even, exactly as the
// CPU engine's bf16 conversion). Compiled to PTX by gen.sh (compute 8.0 and
// 9.0) and embedded into the Go binary; the driver JIT-compiles the PTX.
//
// Every kernel mirrors a CPU kernel of package nn, which is its reference.

#include <stdint.h>

typedef unsigned short bf16_t;

__device__ __forceinline__ bf16_t f2bf(float v) {
	unsigned int b = __float_as_uint(v);
	return (bf16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

__device__ __forceinline__ float bf2f(bf16_t v) { return __uint_as_float(((unsigned int)v) << 16); }

__device__ __forceinline__ float warp_sum(float v) {
	for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

__device__ __forceinline__ double warp_sum_d(double v) {
	for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

__device__ __forceinline__ float warp_max(float v) {
	for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

// block_sum_d sums v over the block (blockDim.x a multiple of 32, ≤ 1024).
__device__ double block_sum_d(double v) {
	__shared__ double part[32];
	v = warp_sum_d(v);
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
	__syncthreads();
	if (lane == 0) part[w] = v;
	__syncthreads();
	int nw = blockDim.x >> 5;
	v = (threadIdx.x < nw) ? part[threadIdx.x] : 0.0;
	if (w == 0) v = warp_sum_d(v);
	if (threadIdx.x == 0) part[0] = v;
	__syncthreads();
	return part[0];
}

__device__ float block_max(float v) {
	__shared__ float part[32];
	v = warp_max(v);
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
	__syncthreads();
	if (lane == 0) part[w] = v;
	__syncthreads();
	int nw = blockDim.x >> 5;
	v = (threadIdx.x < nw) ? part[threadIdx.x] : -INFINITY;
	if (w == 0) v = warp_max(v);
	if (threadIdx.x == 0) part[0] = v;
	__syncthreads();
	return part[0];
}

#define GRID_STRIDE(i, n) for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long)blockDim.x * gridDim.x)

extern "C" {

// ---- casts, copies, element-wise ----

__global__ void cast_f32_bf16(bf16_t *y, const float *x, long n) {
	GRID_STRIDE(i, n) y[i] = f2bf(x[i]);
}

__global__ void cast_bf16_f32(float *y, const bf16_t *x, long n) {
	GRID_STRIDE(i, n) y[i] = bf2f(x[i]);
}

// add: dst += src.
__global__ void add_f32(float *dst, const float *src, long n) {
	GRID_STRIDE(i, n) dst[i] += src[i];
}

// add_copy: dst = a + b (the residual stream), optionally also as bf16.
__global__ void add3_f32(float *dst, const float *a, const float *b, long n) {
	GRID_STRIDE(i, n) dst[i] = a[i] + b[i];
}

__global__ void scale_f32(float *x, long n, float a) {
	GRID_STRIDE(i, n) x[i] *= a;
}

// bias_add: y[r, j] += b[j].
__global__ void bias_add(float *y, const float *b, long n, int d) {
	GRID_STRIDE(i, n * d) y[i] += b[i % d];
}

// colsum_acc: dst[j] += Σ_r src[r, j] (bias and norm-weight gradients).
// Grid: (ceil(d/256), row chunks); each block sums a chunk of rows.
__global__ void colsum_acc(float *dst, const float *src, int n, int d, int rowsPer) {
	int j = blockIdx.x * blockDim.x + threadIdx.x;
	if (j >= d) return;
	int r0 = blockIdx.y * rowsPer, r1 = min(n, r0 + rowsPer);
	float s = 0;
	for (int r = r0; r < r1; r++) s += src[(long)r * d + j];
	atomicAdd(&dst[j], s);
}

// ---- embedding ----

__global__ void embedding_fwd(float *out, const float *table, const int *ids, int n, int d) {
	int r = blockIdx.x;
	if (r >= n) return;
	const float *src = table + (long)ids[r] * d;
	float *dst = out + (long)r * d;
	for (int j = threadIdx.x; j < d; j += blockDim.x) dst[j] = src[j];
}

__global__ void embedding_bwd(float *dtable, const float *dout, const int *ids, int n, int d) {
	int r = blockIdx.x;
	if (r >= n) return;
	float *dst = dtable + (long)ids[r] * d;
	const float *src = dout + (long)r * d;
	for (int j = threadIdx.x; j < d; j += blockDim.x) atomicAdd(&dst[j], src[j]);
}

// ---- RMSNorm (one block per row) ----

// rmsnorm_fwd: out = w ⊙ x·rstd, rstd = 1/sqrt(mean(x²)+eps); outbf (may be
// null) also gets out in bf16.
__global__ void rmsnorm_fwd(float *out, float *rstd, bf16_t *outbf, const float *x, const float *w, int n, int d, float eps) {
	int r = blockIdx.x;
	if (r >= n) return;
	const float *xr = x + (long)r * d;
	double ss = 0;
	for (int j = threadIdx.x; j < d; j += blockDim.x) ss += (double)xr[j] * (double)xr[j];
	ss = block_sum_d(ss);
	float rs = (float)(1.0 / sqrt(ss / d + (double)eps));
	if (threadIdx.x == 0 && rstd) rstd[r] = rs;
	float *or_ = out + (long)r * d;
	for (int j = threadIdx.x; j < d; j += blockDim.x) {
		float v = w[j] * (xr[j] * rs);
		or_[j] = v;
		if (outbf) outbf[(long)r * d + j] = f2bf(v);
	}
}

// rmsnorm_bwd: dx (+)= rs·w·dy − rs³·x·mean(w·dy·x).
__global__ void rmsnorm_bwd(float *dx, const float *dout, const float *x, const float *w, const float *rstd, int n, int d, int accumulate) {
	int r = blockIdx.x;
	if (r >= n) return;
	const float *xr = x + (long)r * d, *dr = dout + (long)r * d;
	float *dxr = dx + (long)r * d;
	float rs = rstd[r];
	double dot = 0;
	for (int j = threadIdx.x; j < d; j += blockDim.x) dot += (double)(w[j] * dr[j]) * (double)xr[j];
	dot = block_sum_d(dot);
	float c = (float)(dot / d) * rs * rs * rs;
	for (int j = threadIdx.x; j < d; j += blockDim.x) {
		float v = rs * w[j] * dr[j] - c * xr[j];
		if (accumulate) dxr[j] += v; else dxr[j] = v;
	}
}

// rmsnorm_dw: dw[j] += Σ_r dy[r,j]·x[r,j]·rstd[r]. Grid as colsum_acc.
__global__ void rmsnorm_dw(float *dw, const float *dout, const float *x, const float *rstd, int n, int d, int rowsPer) {
	int j = blockIdx.x * blockDim.x + threadIdx.x;
	if (j >= d) return;
	int r0 = blockIdx.y * rowsPer, r1 = min(n, r0 + rowsPer);
	float s = 0;
	for (int r = r0; r < r1; r++) s += dout[(long)r * d + j] * x[(long)r * d + j] * rstd[r];
	atomicAdd(&dw[j], s);
}

// ---- RoPE (Hugging Face rotate_half layout) ----

__global__ void rope(float *x, const float *cosT, const float *sinT, const int *pos, int n, int heads, int hd, int inverse) {
	int h2 = hd / 2;
	long total = (long)n * heads * h2;
	GRID_STRIDE(idx, total) {
		int i = idx % h2;
		long rh = idx / h2; // row*heads + head
		int r = rh / heads;
		int p = pos[r];
		float c = cosT[(long)p * h2 + i], s = sinT[(long)p * h2 + i];
		float *v = x + rh * hd;
		float x1 = v[i], x2 = v[i + h2];
		if (inverse) {
			v[i] = x1 * c + x2 * s;
			v[i + h2] = x2 * c - x1 * s;
		} else {
			v[i] = x1 * c - x2 * s;
			v[i + h2] = x2 * c + x1 * s;
		}
	}
}

// ---- SwiGLU ----

__global__ void swiglu_fwd(float *out, float *sig, bf16_t *outbf, const float *gate, const float *up, long n) {
	GRID_STRIDE(i, n) {
		float g = gate[i];
		float s = 1.0f / (1.0f + expf(-g));
		float o = g * s * up[i];
		if (sig) sig[i] = s;
		out[i] = o;
		if (outbf) outbf[i] = f2bf(o);
	}
}

// swiglu_bwd: dgate may alias dout.
__global__ void swiglu_bwd(float *dgate, float *dup, const float *dout, const float *gate, const float *up, const float *sig, long n) {
	GRID_STRIDE(i, n) {
		float g = gate[i], s = sig[i], d = dout[i];
		dup[i] = d * g * s;
		dgate[i] = d * up[i] * s * (1.0f + g * (1.0f - s));
	}
}

// ---- LoRA dropout (same hash as the CPU engine: splitmix64) ----

__device__ __forceinline__ unsigned long long splitmix(unsigned long long x) {
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

__global__ void dropout_fwd(float *xd, const float *x, long n, unsigned long long seed, unsigned long long thr, float keep) {
	GRID_STRIDE(i, n) {
		if ((splitmix(seed ^ ((unsigned long long)i * 0x9e3779b97f4a7c15ull)) >> 11) < thr) xd[i] = 0;
		else xd[i] = x[i] * keep;
	}
}

// dropout_bwd_acc: dx += dxd·keep where the element was kept (as the CPU:
// xd != 0 or x == 0).
__global__ void dropout_bwd_acc(float *dx, const float *dxd, const float *xd, const float *x, long n, float keep) {
	GRID_STRIDE(i, n) {
		if (xd[i] != 0 || x[i] == 0) dx[i] += dxd[i] * keep;
	}
}

// ---- cross-entropy rows (one block per row of a logits chunk) ----

// xent_rows: for each row with a label, loss[r] = logsumexp − logit[label];
// with grad set the row becomes gradScale·(softmax − onehot) (f32 in place,
// and in bf16 into gbf when non-null). Rows labelled −100 get loss 0 and a
// zero gradient.
__global__ void xent_rows(float *logits, bf16_t *gbf, float *loss, const int *labels, int m, int V, float gradScale, int grad) {
	int r = blockIdx.x;
	if (r >= m) return;
	float *row = logits + (long)r * V;
	int lab = labels[r];
	if (lab == -100) {
		if (threadIdx.x == 0) loss[r] = 0;
		if (grad) {
			for (int j = threadIdx.x; j < V; j += blockDim.x) {
				row[j] = 0;
				if (gbf) gbf[(long)r * V + j] = 0;
			}
		}
		return;
	}
	float mx = -INFINITY;
	for (int j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, row[j]);
	mx = block_max(mx);
	double s = 0;
	for (int j = threadIdx.x; j < V; j += blockDim.x) s += (double)expf(row[j] - mx);
	s = block_sum_d(s);
	float target = row[lab];
	__syncthreads();
	if (threadIdx.x == 0) loss[r] = (float)((double)mx + log(s) - (double)target);
	if (grad) {
		float k = gradScale / (float)s;
		for (int j = threadIdx.x; j < V; j += blockDim.x) {
			float g = expf(row[j] - mx) * k;
			if (j == lab) g -= gradScale;
			row[j] = g;
			if (gbf) gbf[(long)r * V + j] = f2bf(g);
		}
	}
}

// ---- NF4 ----

__constant__ float nf4_codebook[16] = {
	-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
	-0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
	0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
	0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

// nf4_scales_dq: double-quantized absmax: scale[b] = map8[q[b]]·absmax2[b/256] + offset.
__global__ void nf4_scales_dq(float *scales, const unsigned char *absmaxQ, const float *absmax2, const float *map8, float offset, long nblocks) {
	GRID_STRIDE(b, nblocks) scales[b] = __fadd_rn(__fmul_rn(map8[absmaxQ[b]], absmax2[b / 256]), offset);
}

// nf4_dequant: out[i] = codebook[code(i)]·scale[i/64], two codes per byte,
// the first in the high nibble; as bf16 (outbf) or f32 (out).
__global__ void nf4_dequant(float *out, bf16_t *outbf, const unsigned char *codes, const float *scales, long n) {
	GRID_STRIDE(i, n) {
		unsigned char c = codes[i >> 1];
		int code = (i & 1) ? (c & 15) : (c >> 4);
		float v = nf4_codebook[code] * scales[i / 64];
		if (outbf) outbf[i] = f2bf(v);
		else out[i] = v;
	}
}

// ---- optimiser ----

// sumsq_acc: *out += Σ x² (double).
__global__ void sumsq_acc(double *out, const float *x, long n) {
	double s = 0;
	GRID_STRIDE(i, n) s += (double)x[i] * (double)x[i];
	s = block_sum_d(s);
	if (threadIdx.x == 0) atomicAdd(out, s);
}

// clip_factor: norm = sqrt(sumsq); clip = maxNorm/(norm+1e-6) when
// maxNorm > 0 and norm > maxNorm, else 1. One thread.
__global__ void clip_factor(float *clip, float *norm, const double *sumsq, float maxNorm) {
	double nv = sqrt(*sumsq);
	norm[0] = (float)nv;
	clip[0] = (maxNorm > 0 && nv > maxNorm) ? (float)(maxNorm / (nv + 1e-6)) : 1.0f;
}

// adamw: as nn.AdamW.Step, with the gradient first scaled by *clip (which
// may be null); decay = 1 − lr·wd, stepSize = lr/bc1, sq = √bc2.
__global__ void adamw(float *p, const float *g, float *m, float *v, long n, const float *clip, float b1, float b2, float decay, float stepSize, float sq, float eps) {
	float c = clip ? clip[0] : 1.0f;
	GRID_STRIDE(i, n) {
		float gi = g[i];
		if (c != 1.0f) gi *= c;
		float mi = b1 * m[i] + (1 - b1) * gi;
		float vi = b2 * v[i] + (1 - b2) * gi * gi;
		m[i] = mi;
		v[i] = vi;
		float pi = p[i] * decay;
		float denom = (float)sqrt((double)vi) / sq + eps;
		p[i] = pi - stepSize * mi / denom;
	}
}

// ---- attention ----

// attn_rowdot: D[row·H + h] = Σ_d out·dout over head h (for the backward).
__global__ void attn_rowdot(float *D, const float *out, const float *dout, int n, int heads, int hd) {
	long total = (long)n * heads;
	int lane = threadIdx.x & 31;
	long w = ((long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
	long nw = ((long)gridDim.x * blockDim.x) >> 5;
	for (; w < total; w += nw) {
		const float *o = out + w * hd, *d = dout + w * hd;
		float s = 0;
		for (int j = lane; j < hd; j += 32) s += o[j] * d[j];
		s = warp_sum(s);
		if (lane == 0) D[w] = s;
	}
}

// attn_decode: the newest token's query (one row, q [H·hd]) attends to the
// first L rows of a KV cache (kc, vc [≥L, KVH·hd], keys after RoPE; the
// query is at position L−1, so every cached key is visible) — one block per
// query head h, reading kv head h/(H/KVH). The softmax is nn.AttentionCached's:
// s_j = scale·(q·k_j), e_j = exp(s_j − max), a float64 sum, p_j = e_j·(1/sum)
// in float32, out = Σ_j p_j·v_j. sc [H·L] holds the scores, then the e_j.
// blockDim.x is ATTN_DEC_THREADS; hd divides it and is at most it.
#define ATTN_DEC_THREADS 256
__global__ void __launch_bounds__(ATTN_DEC_THREADS) attn_decode(float *out, float *sc, const float *q, const float *kc, const float *vc, int L, int H, int KVH, int hd, float scale) {
	__shared__ float qs[ATTN_DEC_THREADS];
	__shared__ float red[ATTN_DEC_THREADS];
	int h = blockIdx.x, tid = threadIdx.x, nt = blockDim.x;
	int g = h / (H / KVH);
	long ks = (long)KVH * hd;
	const float *kh = kc + (long)g * hd, *vh = vc + (long)g * hd;
	float *s = sc + (long)h * L;
	for (int d = tid; d < hd; d += nt) qs[d] = q[(long)h * hd + d];
	__syncthreads();
	// Scores: groups of W = min(32, hd) lanes share a key (hd/W elements
	// each), so a warp covers 32/W keys per pass; trip counts are uniform
	// across the warp for the shuffles.
	int W = hd < 32 ? hd : 32;
	int lane = tid & 31, sub = lane / W, sl = lane % W;
	int perWarp = 32 / W, warps = nt >> 5;
	int step = warps * perWarp;
	for (int j0 = (tid >> 5) * perWarp; j0 < L; j0 += step) {
		int j = j0 + sub;
		float acc = 0;
		if (j < L) {
			const float *kr = kh + (long)j * ks;
			for (int d = sl; d < hd; d += W) acc += qs[d] * kr[d];
		}
		for (int o = W >> 1; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
		if (sl == 0 && j < L) s[j] = scale * acc;
	}
	__syncthreads();
	float mx = -INFINITY;
	for (int j = tid; j < L; j += nt) mx = fmaxf(mx, s[j]);
	mx = block_max(mx);
	double sum = 0;
	for (int j = tid; j < L; j += nt) {
		float e = expf(s[j] - mx);
		s[j] = e;
		sum += (double)e;
	}
	sum = block_sum_d(sum); // its __syncthreads also publishes the e_j
	float inv = (float)(1.0 / sum);
	// out[d] = Σ_j p_j·v[j, d]: G = nt/hd groups of hd threads split the
	// keys, then sum their partials.
	int G = nt / hd, d = tid % hd, grp = tid / hd;
	float acc = 0;
	if (grp < G)
		for (int j = grp; j < L; j += G) acc += (s[j] * inv) * vh[(long)j * ks + d];
	red[tid] = acc;
	__syncthreads();
	if (tid < hd) {
		float o = 0;
		for (int k = 0; k < G; k++) o += red[k * hd + tid];
		out[(long)h * hd + tid] = o;
	}
}

} // extern "C"

// Flash-style attention: one thread per query row, keys in tiles of KT held
// in shared memory, online softmax; the scores of a tile live in registers,
// so no T×T (nor even a block×T) matrix ever exists. Q is [B·T, H·HD], K and V
// [B·T, KVH·HD]; query head h reads kv head h/(H/KVH). seg (may be null): per
// row, the time index where its packed sample starts; row t attends to keys
// [seg[t], t].
#define QB 64
#define KT 32
// Dynamic shared memory (bytes) each attention kernel needs; the host sets
// the functions' limit to it (over 48 KiB for HD ≥ 64).
// fwd: (2·KT·HD + QB·(HD+1))·4; dq: (2·KT·HD + 2·QB·(HD+1))·4;
// dkdv: (2·KT·HD + 2·QB·(HD+1) + 3·KT)·4.

template <int HD>
__device__ void attn_fwd_impl(float *out, float *lse, const float *q, const float *k, const float *v, const int *seg, int B, int T, int H, int KVH, float scale) {
	extern __shared__ __align__(16) float smem[];
	float(*ks)[HD] = (float(*)[HD])smem;
	float(*vs)[HD] = (float(*)[HD])(smem + KT * HD);
	float(*qs)[HD + 1] = (float(*)[HD + 1])(smem + 2 * KT * HD);
	int blk = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
	int g = h / (H / KVH);
	int qstride = H * HD, kstride = KVH * HD;
	int t0 = blk * QB, t1 = min(T, t0 + QB);
	int tid = threadIdx.x;
	int t = t0 + tid;
	bool live = t < t1;
	for (int e = tid; e < QB * HD; e += blockDim.x) {
		int i = e / HD, d = e % HD;
		qs[i][d] = (t0 + i < t1) ? q[((long)(b * T + t0 + i)) * qstride + h * HD + d] : 0.0f;
	}
	int k0 = seg ? seg[b * T + t0] : 0;
	int lo = live ? (seg ? seg[b * T + t] : 0) : 0;
	float acc[HD];
#pragma unroll
	for (int d = 0; d < HD; d++) acc[d] = 0;
	float mx = -INFINITY, sum = 0;
	__syncthreads();
	for (int j0 = k0; j0 < t1; j0 += KT) {
		for (int e = tid; e < KT * HD; e += blockDim.x) {
			int j = e / HD, d = e % HD;
			long row = (long)(b * T + j0 + j);
			bool in = j0 + j < t1;
			ks[j][d] = in ? k[row * kstride + g * HD + d] : 0.0f;
			vs[j][d] = in ? v[row * kstride + g * HD + d] : 0.0f;
		}
		__syncthreads();
		if (live && j0 <= t) {
			float s[KT];
			float tmx = -INFINITY;
#pragma unroll
			for (int j = 0; j < KT; j++) {
				float dot = 0;
#pragma unroll
				for (int d = 0; d < HD; d++) dot += qs[tid][d] * ks[j][d];
				int key = j0 + j;
				s[j] = (key >= lo && key <= t) ? dot * scale : -INFINITY;
				tmx = fmaxf(tmx, s[j]);
			}
			float nmx = fmaxf(mx, tmx);
			if (nmx > -INFINITY) {
				float corr = (mx == -INFINITY) ? 0.0f : expf(mx - nmx);
				sum *= corr;
#pragma unroll
				for (int d = 0; d < HD; d++) acc[d] *= corr;
#pragma unroll
				for (int j = 0; j < KT; j++) {
					float p = (s[j] == -INFINITY) ? 0.0f : expf(s[j] - nmx);
					sum += p;
#pragma unroll
					for (int d = 0; d < HD; d++) acc[d] += p * vs[j][d];
				}
				mx = nmx;
			}
		}
		__syncthreads();
	}
	if (live) {
		float inv = 1.0f / sum;
		float *o = out + ((long)(b * T + t)) * qstride + h * HD;
#pragma unroll
		for (int d = 0; d < HD; d++) o[d] = acc[d] * inv;
		if (lse) lse[(long)(b * T + t) * H + h] = mx + logf(sum);
	}
}

// dq: one thread per query row, keys in tiles: dq = scale·Σ_j ds_j·k_j with
// ds = p·(dp − D), p = exp(scale·q·k − lse), dp = do·v.
template <int HD>
__device__ void attn_bwd_dq_impl(float *dq, const float *q, const float *k, const float *v, const float *dout, const float *lse, const float *Dd, const int *seg, int B, int T, int H, int KVH, float scale) {
	extern __shared__ __align__(16) float smem[];
	float(*ks)[HD] = (float(*)[HD])smem;
	float(*vs)[HD] = (float(*)[HD])(smem + KT * HD);
	float(*qs)[HD + 1] = (float(*)[HD + 1])(smem + 2 * KT * HD);
	float(*dos)[HD + 1] = (float(*)[HD + 1])(smem + 2 * KT * HD + QB * (HD + 1));
	int blk = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
	int g = h / (H / KVH);
	int qstride = H * HD, kstride = KVH * HD;
	int t0 = blk * QB, t1 = min(T, t0 + QB);
	int tid = threadIdx.x;
	int t = t0 + tid;
	bool live = t < t1;
	for (int e = tid; e < QB * HD; e += blockDim.x) {
		int i = e / HD, d = e % HD;
		long off = ((long)(b * T + t0 + i)) * qstride + h * HD + d;
		bool in = t0 + i < t1;
		qs[i][d] = in ? q[off] : 0.0f;
		dos[i][d] = in ? dout[off] : 0.0f;
	}
	int k0 = seg ? seg[b * T + t0] : 0;
	int lo = live ? (seg ? seg[b * T + t] : 0) : 0;
	float l = live ? lse[(long)(b * T + t) * H + h] : 0.0f;
	float Di = live ? Dd[(long)(b * T + t) * H + h] : 0.0f;
	float acc[HD];
#pragma unroll
	for (int d = 0; d < HD; d++) acc[d] = 0;
	__syncthreads();
	for (int j0 = k0; j0 < t1; j0 += KT) {
		for (int e = tid; e < KT * HD; e += blockDim.x) {
			int j = e / HD, d = e % HD;
			long row = (long)(b * T + j0 + j);
			bool in = j0 + j < t1;
			ks[j][d] = in ? k[row * kstride + g * HD + d] : 0.0f;
			vs[j][d] = in ? v[row * kstride + g * HD + d] : 0.0f;
		}
		__syncthreads();
		if (live && j0 <= t) {
			for (int j = 0; j < KT; j++) {
				int key = j0 + j;
				if (key < lo || key > t) continue;
				float s = 0, dp = 0;
#pragma unroll
				for (int d = 0; d < HD; d++) {
					s += qs[tid][d] * ks[j][d];
					dp += dos[tid][d] * vs[j][d];
				}
				float p = expf(s * scale - l);
				float ds = p * (dp - Di) * scale;
#pragma unroll
				for (int d = 0; d < HD; d++) acc[d] += ds * ks[j][d];
			}
		}
		__syncthreads();
	}
	if (live) {
		float *o = dq + ((long)(b * T + t)) * qstride + h * HD;
#pragma unroll
		for (int d = 0; d < HD; d++) o[d] = acc[d];
	}
}

// dk, dv: one thread per key row of a block of QB keys of kv head g; loops
// over the query rows that see it, for every query head sharing g:
// dv_j = Σ_i p_ij·do_i, dk_j = scale·Σ_i ds_ij·q_i. Overwrites dk, dv.
template <int HD>
__device__ void attn_bwd_dkdv_impl(float *dk, float *dv, const float *q, const float *k, const float *v, const float *dout, const float *lse, const float *Dd, const int *seg, int B, int T, int H, int KVH, float scale) {
	extern __shared__ __align__(16) float smem[];
	float(*qs)[HD] = (float(*)[HD])smem;
	float(*dos)[HD] = (float(*)[HD])(smem + KT * HD);
	float(*kss)[HD + 1] = (float(*)[HD + 1])(smem + 2 * KT * HD);
	float(*vss)[HD + 1] = (float(*)[HD + 1])(smem + 2 * KT * HD + QB * (HD + 1));
	float *ls = smem + 2 * KT * HD + 2 * QB * (HD + 1);
	float *Ds = ls + KT;
	int *segs = (int *)(Ds + KT);
	int blk = blockIdx.x, g = blockIdx.y, b = blockIdx.z;
	int rep = H / KVH;
	int qstride = H * HD, kstride = KVH * HD;
	int j0 = blk * QB, j1 = min(T, j0 + QB);
	int tid = threadIdx.x;
	int j = j0 + tid;
	bool live = j < j1;
	for (int e = tid; e < QB * HD; e += blockDim.x) {
		int i = e / HD, d = e % HD;
		long off = ((long)(b * T + j0 + i)) * kstride + g * HD + d;
		bool in = j0 + i < j1;
		kss[i][d] = in ? k[off] : 0.0f;
		vss[i][d] = in ? v[off] : 0.0f;
	}
	float dka[HD], dva[HD];
#pragma unroll
	for (int d = 0; d < HD; d++) dka[d] = dva[d] = 0;
	__syncthreads();
	for (int hh = 0; hh < rep; hh++) {
		int h = g * rep + hh;
		for (int i0 = j0; i0 < T; i0 += KT) {
			// Queries whose sample starts after this key block see none of it;
			// sample starts do not decrease along a row.
			if (seg && seg[b * T + i0] >= j1) break;
			for (int e = tid; e < KT * HD; e += blockDim.x) {
				int i = e / HD, d = e % HD;
				long off = ((long)(b * T + i0 + i)) * qstride + h * HD + d;
				bool in = i0 + i < T;
				qs[i][d] = in ? q[off] : 0.0f;
				dos[i][d] = in ? dout[off] : 0.0f;
			}
			for (int i = tid; i < KT; i += blockDim.x) {
				bool in = i0 + i < T;
				long r = (long)(b * T + i0 + i);
				ls[i] = in ? lse[r * H + h] : 0.0f;
				Ds[i] = in ? Dd[r * H + h] : 0.0f;
				segs[i] = in ? (seg ? seg[r] : 0) : T + 1;
			}
			__syncthreads();
			if (live) {
				for (int i = 0; i < KT; i++) {
					int t = i0 + i;
					if (t >= T) break;
					if (j > t || j < segs[i]) continue;
					float s = 0, dp = 0;
#pragma unroll
					for (int d = 0; d < HD; d++) {
						s += qs[i][d] * kss[tid][d];
						dp += dos[i][d] * vss[tid][d];
					}
					float p = expf(s * scale - ls[i]);
					float ds = p * (dp - Ds[i]) * scale;
#pragma unroll
					for (int d = 0; d < HD; d++) {
						dva[d] += p * dos[i][d];
						dka[d] += ds * qs[i][d];
					}
				}
			}
			__syncthreads();
		}
	}
	if (live) {
		long off = ((long)(b * T + j)) * kstride + g * HD;
#pragma unroll
		for (int d = 0; d < HD; d++) {
			dk[off + d] = dka[d];
			dv[off + d] = dva[d];
		}
	}
}


// Register-resident variants for head dims up to 64 (v2): each thread keeps
// its query row (and, for dq, its output-gradient row) in registers, and
// the shared-memory rows it reads are float4, so the inner loops issue one
// shared load per four FMAs instead of one or two per FMA. dk/dv keep the
// key block in shared memory padded to HD+4 floats (16-byte rows,
// conflict-free float4 reads). Same arithmetic as the v1 kernels above.
#define PADV(HD) ((HD) + 4)

template <int HD>
__device__ __forceinline__ float dot4(const float *a, const float4 *b) {
	float s = 0;
#pragma unroll
	for (int d = 0; d < HD / 4; d++) {
		float4 v = b[d];
		s += a[4 * d] * v.x + a[4 * d + 1] * v.y + a[4 * d + 2] * v.z + a[4 * d + 3] * v.w;
	}
	return s;
}

template <int HD>
__device__ void attn_fwd_v2(float *out, float *lse, const float *q, const float *k, const float *v, const int *seg, int B, int T, int H, int KVH, float scale) {
	extern __shared__ __align__(16) float smem[];
	float(*ks)[HD] = (float(*)[HD])smem;
	float(*vs)[HD] = (float(*)[HD])(smem + KT * HD);
	int blk = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
	int g = h / (H / KVH);
	int qstride = H * HD, kstride = KVH * HD;
	int t0 = blk * QB, t1 = min(T, t0 + QB);
	int tid = threadIdx.x;
	int t = t0 + tid;
	bool live = t < t1;
	float qr[HD];
#pragma unroll
	for (int d = 0; d < HD; d++) qr[d] = live ? q[((long)(b * T + t)) * qstride + h * HD + d] * scale : 0.0f;
	int k0 = seg ? seg[b * T + t0] : 0;
	int lo = live ? (seg ? seg[b * T + t] : 0) : 0;
	float acc[HD];
#pragma unroll
	for (int d = 0; d < HD; d++) acc[d] = 0;
	float mx = -INFINITY, sum = 0;
	for (int j0 = k0; j0 < t1; j0 += KT) {
		for (int e = tid; e < KT * HD; e += blockDim.x) {
			int j = e / HD, d = e % HD;
			long row = (long)(b * T + j0 + j);
			bool in = j0 + j < t1;
			ks[j][d] = in ? k[row * kstride + g * HD + d] : 0.0f;
			vs[j][d] = in ? v[row * kstride + g * HD + d] : 0.0f;
		}
		__syncthreads();
		if (live && j0 <= t) {
			float s[KT];
			float tmx = -INFINITY;
#pragma unroll
			for (int j = 0; j < KT; j++) {
				float dot = dot4<HD>(qr, (const float4 *)ks[j]);
				int key = j0 + j;
				s[j] = (key >= lo && key <= t) ? dot : -INFINITY;
				tmx = fmaxf(tmx, s[j]);
			}
			float nmx = fmaxf(mx, tmx);
			if (nmx > -INFINITY) {
				float corr = (mx == -INFINITY) ? 0.0f : expf(mx - nmx);
				sum *= corr;
#pragma unroll
				for (int d = 0; d < HD; d++) acc[d] *= corr;
#pragma unroll
				for (int j = 0; j < KT; j++) {
					float p = (s[j] == -INFINITY) ? 0.0f : expf(s[j] - nmx);
					sum += p;
					const float4 *vr = (const float4 *)vs[j];
#pragma unroll
					for (int d = 0; d < HD / 4; d++) {
						float4 x = vr[d];
						acc[4 * d] += p * x.x;
						acc[4 * d + 1] += p * x.y;
						acc[4 * d + 2] += p * x.z;
						acc[4 * d + 3] += p * x.w;
					}
				}
				mx = nmx;
			}
		}
		__syncthreads();
	}
	if (live) {
		float inv = 1.0f / sum;
		float *o = out + ((long)(b * T + t)) * qstride + h * HD;
#pragma unroll
		for (int d = 0; d < HD; d++) o[d] = acc[d] * inv;
		if (lse) lse[(long)(b * T + t) * H + h] = mx + logf(sum);
	}
}

template <int HD>
__device__ void attn_bwd_dq_v2(float *dq, const float *q, const float *k, const float *v, const float *dout, const float *lse, const float *Dd, const int *seg, int B, int T, int H, int KVH, float scale) {
	extern __shared__ __align__(16) float smem[];
	float(*ks)[HD] = (float(*)[HD])smem;
	float(*vs)[HD] = (float(*)[HD])(smem + KT * HD);
	int blk = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
	int g = h / (H / KVH);
	int qstride = H * HD, kstride = KVH * HD;
	int t0 = blk * QB, t1 = min(T, t0 + QB);
	int tid = threadIdx.x;
	int t = t0 + tid;
	bool live = t < t1;
	float qr[HD], dor[HD];
#pragma unroll
	for (int d = 0; d < HD; d++) {
		long off = ((long)(b * T + t)) * qstride + h * HD + d;
		qr[d] = live ? q[off] : 0.0f;
		dor[d] = live ? dout[off] : 0.0f;
	}
	int k0 = seg ? seg[b * T + t0] : 0;
	int lo = live ? (seg ? seg[b * T + t] : 0) : 0;
	float l = live ? lse[(long)(b * T + t) * H + h] : 0.0f;
	float Di = live ? Dd[(long)(b * T + t) * H + h] : 0.0f;
	float acc[HD];
#pragma unroll
	for (int d = 0; d < HD; d++) acc[d] = 0;
	for (int j0 = k0; j0 < t1; j0 += KT) {
		for (int e = tid; e < KT * HD; e += blockDim.x) {
			int j = e / HD, d = e % HD;
			long row = (long)(b * T + j0 + j);
			bool in = j0 + j < t1;
			ks[j][d] = in ? k[row * kstride + g * HD + d] : 0.0f;
			vs[j][d] = in ? v[row * kstride + g * HD + d] : 0.0f;
		}
		__syncthreads();
		if (live && j0 <= t) {
			for (int j = 0; j < KT; j++) {
				int key = j0 + j;
				if (key < lo || key > t) continue;
				float s = dot4<HD>(qr, (const float4 *)ks[j]);
				float dp = dot4<HD>(dor, (const float4 *)vs[j]);
				float p = expf(s * scale - l);
				float ds = p * (dp - Di) * scale;
				const float4 *kr = (const float4 *)ks[j];
#pragma unroll
				for (int d = 0; d < HD / 4; d++) {
					float4 x = kr[d];
					acc[4 * d] += ds * x.x;
					acc[4 * d + 1] += ds * x.y;
					acc[4 * d + 2] += ds * x.z;
					acc[4 * d + 3] += ds * x.w;
				}
			}
		}
		__syncthreads();
	}
	if (live) {
		float *o = dq + ((long)(b * T + t)) * qstride + h * HD;
#pragma unroll
		for (int d = 0; d < HD; d++) o[d] = acc[d];
	}
}

template <int HD>
__device__ void attn_bwd_dkdv_v2(float *dk, float *dv, const float *q, const float *k, const float *v, const float *dout, const float *lse, const float *Dd, const int *seg, int B, int T, int H, int KVH, float scale) {
	extern __shared__ __align__(16) float smem[];
	float(*qs)[HD] = (float(*)[HD])smem;
	float(*dos)[HD] = (float(*)[HD])(smem + KT * HD);
	float(*kss)[PADV(HD)] = (float(*)[PADV(HD)])(smem + 2 * KT * HD);
	float(*vss)[PADV(HD)] = (float(*)[PADV(HD)])(smem + 2 * KT * HD + QB * PADV(HD));
	float *ls = smem + 2 * KT * HD + 2 * QB * PADV(HD);
	float *Ds = ls + KT;
	int *segs = (int *)(Ds + KT);
	int blk = blockIdx.x, g = blockIdx.y, b = blockIdx.z;
	int rep = H / KVH;
	int qstride = H * HD, kstride = KVH * HD;
	int j0 = blk * QB, j1 = min(T, j0 + QB);
	int tid = threadIdx.x;
	int j = j0 + tid;
	bool live = j < j1;
	for (int e = tid; e < QB * HD; e += blockDim.x) {
		int i = e / HD, d = e % HD;
		long off = ((long)(b * T + j0 + i)) * kstride + g * HD + d;
		bool in = j0 + i < j1;
		kss[i][d] = in ? k[off] : 0.0f;
		vss[i][d] = in ? v[off] : 0.0f;
	}
	float dka[HD], dva[HD];
#pragma unroll
	for (int d = 0; d < HD; d++) dka[d] = dva[d] = 0;
	__syncthreads();
	const float4 *kr = (const float4 *)kss[tid];
	const float4 *vr = (const float4 *)vss[tid];
	for (int hh = 0; hh < rep; hh++) {
		int h = g * rep + hh;
		for (int i0 = j0; i0 < T; i0 += KT) {
			if (seg && seg[b * T + i0] >= j1) break;
			for (int e = tid; e < KT * HD; e += blockDim.x) {
				int i = e / HD, d = e % HD;
				long off = ((long)(b * T + i0 + i)) * qstride + h * HD + d;
				bool in = i0 + i < T;
				qs[i][d] = in ? q[off] : 0.0f;
				dos[i][d] = in ? dout[off] : 0.0f;
			}
			for (int i = tid; i < KT; i += blockDim.x) {
				bool in = i0 + i < T;
				long r = (long)(b * T + i0 + i);
				ls[i] = in ? lse[r * H + h] : 0.0f;
				Ds[i] = in ? Dd[r * H + h] : 0.0f;
				segs[i] = in ? (seg ? seg[r] : 0) : T + 1;
			}
			__syncthreads();
			if (live) {
				for (int i = 0; i < KT; i++) {
					int t = i0 + i;
					if (t >= T) break;
					if (j > t || j < segs[i]) continue;
					const float4 *qi = (const float4 *)qs[i];
					const float4 *di = (const float4 *)dos[i];
					float s = 0, dp = 0;
#pragma unroll
					for (int d = 0; d < HD / 4; d++) {
						float4 a = qi[d], kk = kr[d], o = di[d], vv = vr[d];
						s += a.x * kk.x + a.y * kk.y + a.z * kk.z + a.w * kk.w;
						dp += o.x * vv.x + o.y * vv.y + o.z * vv.z + o.w * vv.w;
					}
					float p = expf(s * scale - ls[i]);
					float ds = p * (dp - Ds[i]) * scale;
#pragma unroll
					for (int d = 0; d < HD / 4; d++) {
						float4 a = qi[d], o = di[d];
						dva[4 * d] += p * o.x;
						dva[4 * d + 1] += p * o.y;
						dva[4 * d + 2] += p * o.z;
						dva[4 * d + 3] += p * o.w;
						dka[4 * d] += ds * a.x;
						dka[4 * d + 1] += ds * a.y;
						dka[4 * d + 2] += ds * a.z;
						dka[4 * d + 3] += ds * a.w;
					}
				}
			}
			__syncthreads();
		}
	}
	if (live) {
		long off = ((long)(b * T + j)) * kstride + g * HD;
#pragma unroll
		for (int d = 0; d < HD; d++) {
			dk[off + d] = dka[d];
			dv[off + d] = dva[d];
		}
	}
}

#define ATTN_INST(HD, V)                                                                                                              \
	extern "C" __global__ void __launch_bounds__(QB) attn_fwd_##HD(float *out, float *lse, const float *q, const float *k,     \
	                                                               const float *v, const int *seg, int B, int T, int H, int KVH, \
	                                                               float scale) {                                              \
		attn_fwd_##V<HD>(out, lse, q, k, v, seg, B, T, H, KVH, scale);                                                       \
	}                                                                                                                          \
	extern "C" __global__ void __launch_bounds__(QB) attn_bwd_dq_##HD(float *dq, const float *q, const float *k, const float *v, \
	                                                                  const float *dout, const float *lse, const float *Dd,      \
	                                                                  const int *seg, int B, int T, int H, int KVH, float scale) { \
		attn_bwd_dq_##V<HD>(dq, q, k, v, dout, lse, Dd, seg, B, T, H, KVH, scale);                                           \
	}                                                                                                                          \
	extern "C" __global__ void __launch_bounds__(QB) attn_bwd_dkdv_##HD(float *dk, float *dv, const float *q, const float *k,   \
	                                                                    const float *v, const float *dout, const float *lse,     \
	                                                                    const float *Dd, const int *seg, int B, int T, int H,    \
	                                                                    int KVH, float scale) {                                  \
		attn_bwd_dkdv_##V<HD>(dk, dv, q, k, v, dout, lse, Dd, seg, B, T, H, KVH, scale);                                     \
	}

ATTN_INST(8, v2)
ATTN_INST(16, v2)
ATTN_INST(32, v2)
ATTN_INST(64, v2)
ATTN_INST(128, impl)

// ---- attention on bf16 tensor cores (WHET_CUDA_ATTN=bf16) ----
//
// FlashAttention-2 style kernels with the same arguments, tensor layouts and
// grids as the float32 kernels above (Q [B·T, H·HD], K and V [B·T, KVH·HD],
// float32 in memory; seg as above), so the host switches by kernel name.
// Tiles are converted to bf16 when they are staged in shared memory; every
// product runs on tensor cores (nvcuda::wmma, 16×16×16 bf16 fragments, f32
// accumulation); softmax statistics, lse, D and all outputs stay float32.
//
// A block has FA_THREADS = 4 warps and covers FA_BQ = 64 query rows (fwd, dq)
// or FA_BK = 64 key rows (dkdv); warp w owns the block's rows 16w..16w+15.
// Tiles of the other side stream through shared memory FA_BK (or FA_BQ) rows
// at a time. In the softmax phase lane L of a warp owns row L/2 of the warp's
// 16 rows and, of the 64 columns of a score tile, the columns 2i + L%2.
//
// Scores are kept in base 2: s2 = q·k·scale·log2(e), so p = exp2(s2 − m2)
// and lse = m2·ln 2 + ln l (natural log, as the float32 kernels store it).
//
// Shared-memory layout. bf16 tiles have a row pitch of FA_TP(HD) = HD + 8
// elements, float32 score tiles FA_SP = 68, bf16 probability tiles FA_PP =
// 72, float32 output rows FA_OP(HD) = HD + 4: every pitch is a multiple of
// 16 bytes (wmma's ldm rule) and every region size a multiple of 32 bytes, so
// each fragment pointer (row a multiple of 16, column a multiple of 16) is
// 32-byte aligned as load/store_matrix_sync require. Bytes per kernel (the
// host's attnBF16Smem mirrors these):
//   fwd:  3·64·TP·2 + 4·16·(SP·4 + PP·2 + OP·4)
//   dq:   4·64·TP·2 + 4·16·(2·SP·4 + PP·2)
//   dkdv: 4·64·TP·2 + 4·16·(2·SP·4 + 2·PP·2) + 3·64·4
// (HD 64: 70 KiB, 79 KiB, 89 KiB; HD 128: 110 KiB, 111 KiB, 121 KiB.)

#include <mma.h>
#include <cuda_bf16.h>

#define FA_BQ 64
#define FA_BK 64
#define FA_WARPS 4
#define FA_THREADS (32 * FA_WARPS)
#define FA_TP(HD) ((HD) + 8)
#define FA_SP (FA_BK + 4)
#define FA_PP (FA_BK + 8)
#define FA_OP(HD) ((HD) + 4)
#define FA_LOG2E 1.4426950408889634f
#define FA_LN2 0.6931471805599453f

namespace fa {
using namespace nvcuda;
typedef __nv_bfloat16 bf;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf, wmma::row_major> FragA;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf, wmma::row_major> FragB;   // B[k][n] at p[k·ld + n]
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf, wmma::col_major> FragBT;  // B[k][n] at p[n·ld + k]: a transposed row-major tile
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> FragC;

// load_tile stages rows [0, 64) of a float32 matrix as bf16: dst[r·(HD+8) + d]
// = src[r·stride + d] for r < rows, 0 for rows ≤ r < 64 (src is not read
// there). src points at row 0, column 0 of the head.
template <int HD>
__device__ __forceinline__ void load_tile(bf *dst, const float *src, long stride, int rows) {
	for (int e = threadIdx.x; e < 64 * HD; e += FA_THREADS) {
		int r = e / HD, d = e % HD;
		float x = r < rows ? src[(long)r * stride + d] : 0.0f;
		dst[r * FA_TP(HD) + d] = __float2bfloat16_rn(x);
	}
}

// scores: S[16][64] (f32, pitch FA_SP) = A[16][HD] · B[64][HD]ᵀ, where A is
// 16 rows of a bf16 tile and B a whole 64-row bf16 tile (both pitch HD+8).
// Warp-collective.
template <int HD>
__device__ __forceinline__ void scores(float *S, const bf *A, const bf *B) {
	FragA a;
	FragBT b;
	FragC c;
#pragma unroll
	for (int n = 0; n < 4; n++) {
		wmma::fill_fragment(c, 0.0f);
#pragma unroll
		for (int k = 0; k < HD / 16; k++) {
			wmma::load_matrix_sync(a, A + k * 16, FA_TP(HD));
			wmma::load_matrix_sync(b, B + n * 16 * FA_TP(HD) + k * 16, FA_TP(HD));
			wmma::mma_sync(c, a, b, c);
		}
		wmma::store_matrix_sync(S + n * 16, c, FA_SP, wmma::mem_row_major);
	}
}

// accum: acc[n] += P[16][64] · B[64][HD] columns 16n..16n+15, P bf16 with
// pitch FA_PP, B a bf16 tile (pitch HD+8). Warp-collective.
template <int HD>
__device__ __forceinline__ void accum(FragC (&acc)[HD / 16], const bf *P, const bf *B) {
	FragA a;
	FragB b;
#pragma unroll
	for (int k = 0; k < 4; k++) {
		wmma::load_matrix_sync(a, P + k * 16, FA_PP);
#pragma unroll
		for (int n = 0; n < HD / 16; n++) {
			wmma::load_matrix_sync(b, B + k * 16 * FA_TP(HD) + n * 16, FA_TP(HD));
			wmma::mma_sync(acc[n], a, b, acc[n]);
		}
	}
}

// store_rows writes acc·mul, 16 rows × HD, to dst row r (r < rows only;
// rows ≤ 16) at dst[r·stride + column], through scratch (16×16 f32 with
// pitch FA_SP, the warp's own). Warp-collective.
template <int HD>
__device__ __forceinline__ void store_rows(float *dst, long stride, int rows, FragC (&acc)[HD / 16], float mul, float *scratch) {
	int lane = threadIdx.x & 31;
#pragma unroll
	for (int n = 0; n < HD / 16; n++) {
#pragma unroll
		for (int i = 0; i < acc[n].num_elements; i++) acc[n].x[i] *= mul;
		wmma::store_matrix_sync(scratch, acc[n], FA_SP, wmma::mem_row_major);
		__syncwarp();
		for (int e = lane; e < 256; e += 32) {
			int r = e / 16, c = e % 16;
			if (r < rows) dst[(long)r * stride + n * 16 + c] = scratch[r * FA_SP + c];
		}
		__syncwarp();
	}
}

// fwd: block (query tile blockIdx.x, head blockIdx.y, batch blockIdx.z).
// Per key tile: S = Q·Kᵀ (tensor cores) into the warp's score scratch; the
// lanes mask, update the running max m and sum l of their row, write P =
// exp2(s − m) as bf16 and rescale their part of the warp's f32 output rows
// O; then O += P·V (tensor cores, O loaded into and stored back from
// accumulator fragments).
template <int HD>
__device__ void fwd(float *out, float *lse, const float *q, const float *k, const float *v, const int *seg, int T, int H, int KVH, float scale) {
	extern __shared__ __align__(128) unsigned char fa_smem[];
	bf *Qs = (bf *)fa_smem;
	bf *Ks = Qs + FA_BQ * FA_TP(HD);
	bf *Vs = Ks + FA_BK * FA_TP(HD);
	float *Sall = (float *)(Vs + FA_BK * FA_TP(HD));
	bf *Pall = (bf *)(Sall + FA_WARPS * 16 * FA_SP);
	float *Oall = (float *)(Pall + FA_WARPS * 16 * FA_PP);

	int blk = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
	int g = h / (H / KVH);
	long qstride = (long)H * HD, kstride = (long)KVH * HD;
	int t0 = blk * FA_BQ, t1 = min(T, t0 + FA_BQ);
	int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
	float *S = Sall + w * 16 * FA_SP;
	bf *P = Pall + w * 16 * FA_PP;
	float *O = Oall + w * 16 * FA_OP(HD);
	int tw0 = t0 + 16 * w;        // the warp's first query row
	int r = lane >> 1, half = lane & 1;
	int t = tw0 + r;              // this lane's query row
	bool live = t < t1;
	int lo = live ? (seg ? seg[b * T + t] : 0) : 0;
	float s2scale = scale * FA_LOG2E;
	float m = -INFINITY, l = 0.0f;

	load_tile<HD>(Qs, q + (long)b * T * qstride + (long)t0 * qstride + h * HD, qstride, t1 - t0);
	for (int i = 0; i < HD / 2; i++) O[r * FA_OP(HD) + 2 * i + half] = 0.0f;

	int k0 = seg ? seg[b * T + t0] : 0;
	for (int j0 = k0; j0 < t1; j0 += FA_BK) {
		__syncthreads(); // the previous tile's K, V are no longer read (and Qs is staged)
		load_tile<HD>(Ks, k + (long)b * T * kstride + (long)j0 * kstride + g * HD, kstride, min(FA_BK, t1 - j0));
		load_tile<HD>(Vs, v + (long)b * T * kstride + (long)j0 * kstride + g * HD, kstride, min(FA_BK, t1 - j0));
		__syncthreads();
		// Warp-uniform: skip a tile none of the warp's rows can see (keys
		// all after its last live row) and warps without live rows.
		if (tw0 >= t1 || j0 > min(tw0 + 15, t1 - 1)) continue;
		scores<HD>(S, Qs + 16 * w * FA_TP(HD), Ks);
		__syncwarp();
		float s[32];
		float tmx = -INFINITY;
#pragma unroll
		for (int i = 0; i < 32; i++) {
			int key = j0 + 2 * i + half;
			bool ok = live && key >= lo && key <= t;
			s[i] = ok ? S[r * FA_SP + 2 * i + half] * s2scale : -INFINITY;
			tmx = fmaxf(tmx, s[i]);
		}
		tmx = fmaxf(tmx, __shfl_xor_sync(0xffffffffu, tmx, 1));
		float mnew = fmaxf(m, tmx);
		float corr = 1.0f, psum = 0.0f;
		if (mnew == -INFINITY) { // nothing visible yet: P = 0, O and l stay 0
#pragma unroll
			for (int i = 0; i < 32; i++) P[r * FA_PP + 2 * i + half] = __float2bfloat16_rn(0.0f);
		} else {
			corr = exp2f(m - mnew); // m = −∞: 0 (O and l are 0 anyway)
#pragma unroll
			for (int i = 0; i < 32; i++) {
				float p = s[i] == -INFINITY ? 0.0f : exp2f(s[i] - mnew);
				psum += p;
				P[r * FA_PP + 2 * i + half] = __float2bfloat16_rn(p);
			}
		}
		psum += __shfl_xor_sync(0xffffffffu, psum, 1);
		l = l * corr + psum;
		m = mnew;
		for (int i = 0; i < HD / 2; i++) O[r * FA_OP(HD) + 2 * i + half] *= corr;
		__syncwarp();
		FragC acc[HD / 16];
#pragma unroll
		for (int n = 0; n < HD / 16; n++) wmma::load_matrix_sync(acc[n], O + n * 16, FA_OP(HD), wmma::mem_row_major);
		accum<HD>(acc, P, Vs);
#pragma unroll
		for (int n = 0; n < HD / 16; n++) wmma::store_matrix_sync(O + n * 16, acc[n], FA_OP(HD), wmma::mem_row_major);
		__syncwarp();
	}
	__syncwarp();
	if (live) {
		float inv = 1.0f / l;
		float *o = out + (long)(b * T + t) * qstride + h * HD;
		for (int i = 0; i < HD / 2; i++) o[2 * i + half] = O[r * FA_OP(HD) + 2 * i + half] * inv;
		if (lse && half == 0) lse[(long)(b * T + t) * H + h] = m * FA_LN2 + logf(l);
	}
}

// bwd_dq: block (query tile, head, batch) as fwd. Per key tile: S = Q·Kᵀ and
// dP = dO·Vᵀ (tensor cores); the lanes form dS = P∘(dP − D), P = exp2(s2 −
// lse·log2 e), as bf16; dQ += dS·K (tensor cores, accumulator fragments in
// registers). dq = scale·dQ, overwritten.
template <int HD>
__device__ void bwd_dq(float *dq, const float *q, const float *k, const float *v, const float *dout, const float *lse, const float *Dd, const int *seg, int T, int H, int KVH, float scale) {
	extern __shared__ __align__(128) unsigned char fa_smem[];
	bf *Qs = (bf *)fa_smem;
	bf *dOs = Qs + FA_BQ * FA_TP(HD);
	bf *Ks = dOs + FA_BQ * FA_TP(HD);
	bf *Vs = Ks + FA_BK * FA_TP(HD);
	float *Sall = (float *)(Vs + FA_BK * FA_TP(HD));
	float *dPall = Sall + FA_WARPS * 16 * FA_SP;
	bf *dSall = (bf *)(dPall + FA_WARPS * 16 * FA_SP);

	int blk = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
	int g = h / (H / KVH);
	long qstride = (long)H * HD, kstride = (long)KVH * HD;
	int t0 = blk * FA_BQ, t1 = min(T, t0 + FA_BQ);
	int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
	float *S = Sall + w * 16 * FA_SP;
	float *dP = dPall + w * 16 * FA_SP;
	bf *dS = dSall + w * 16 * FA_PP;
	int tw0 = t0 + 16 * w;
	int r = lane >> 1, half = lane & 1;
	int t = tw0 + r;
	bool live = t < t1;
	int lo = live ? (seg ? seg[b * T + t] : 0) : 0;
	float s2scale = scale * FA_LOG2E;
	float l2 = live ? lse[(long)(b * T + t) * H + h] * FA_LOG2E : 0.0f;
	float Di = live ? Dd[(long)(b * T + t) * H + h] : 0.0f;

	long qoff = (long)b * T * qstride + (long)t0 * qstride + h * HD;
	load_tile<HD>(Qs, q + qoff, qstride, t1 - t0);
	load_tile<HD>(dOs, dout + qoff, qstride, t1 - t0);
	FragC acc[HD / 16];
#pragma unroll
	for (int n = 0; n < HD / 16; n++) wmma::fill_fragment(acc[n], 0.0f);

	int k0 = seg ? seg[b * T + t0] : 0;
	for (int j0 = k0; j0 < t1; j0 += FA_BK) {
		__syncthreads();
		long koff = (long)b * T * kstride + (long)j0 * kstride + g * HD;
		load_tile<HD>(Ks, k + koff, kstride, min(FA_BK, t1 - j0));
		load_tile<HD>(Vs, v + koff, kstride, min(FA_BK, t1 - j0));
		__syncthreads();
		if (tw0 >= t1 || j0 > min(tw0 + 15, t1 - 1)) continue;
		scores<HD>(S, Qs + 16 * w * FA_TP(HD), Ks);
		scores<HD>(dP, dOs + 16 * w * FA_TP(HD), Vs);
		__syncwarp();
#pragma unroll
		for (int i = 0; i < 32; i++) {
			int c = 2 * i + half, key = j0 + c;
			bool ok = live && key >= lo && key <= t;
			float p = ok ? exp2f(S[r * FA_SP + c] * s2scale - l2) : 0.0f;
			dS[r * FA_PP + c] = __float2bfloat16_rn(p * (dP[r * FA_SP + c] - Di));
		}
		__syncwarp();
		accum<HD>(acc, dS, Ks);
	}
	if (tw0 < t1) store_rows<HD>(dq + (long)(b * T + tw0) * qstride + h * HD, qstride, min(16, t1 - tw0), acc, scale, S);
}

// bwd_dkdv: block (key tile blockIdx.x, kv head blockIdx.y, batch). For each
// query head of the group and each query tile that can see the key tile:
// Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ (tensor cores); the lanes (row = key, columns =
// queries) form Pᵀ and dSᵀ = Pᵀ∘(dPᵀ − D) as bf16; dV += Pᵀ·dO and dK +=
// dSᵀ·Q (tensor cores, accumulators in registers). dk = scale·dK, dv = dV,
// overwritten.
template <int HD>
__device__ void bwd_dkdv(float *dk, float *dv, const float *q, const float *k, const float *v, const float *dout, const float *lse, const float *Dd, const int *seg, int T, int H, int KVH, float scale) {
	extern __shared__ __align__(128) unsigned char fa_smem[];
	bf *Ks = (bf *)fa_smem;
	bf *Vs = Ks + FA_BK * FA_TP(HD);
	bf *Qs = Vs + FA_BK * FA_TP(HD);
	bf *dOs = Qs + FA_BQ * FA_TP(HD);
	float *Sall = (float *)(dOs + FA_BQ * FA_TP(HD));
	float *dPall = Sall + FA_WARPS * 16 * FA_SP;
	bf *Pall = (bf *)(dPall + FA_WARPS * 16 * FA_SP);
	bf *dSall = Pall + FA_WARPS * 16 * FA_PP;
	float *l2s = (float *)(dSall + FA_WARPS * 16 * FA_PP); // lse·log2 e of the query tile's rows
	float *Ds = l2s + FA_BQ;
	int *segs = (int *)(Ds + FA_BQ);

	int blk = blockIdx.x, g = blockIdx.y, b = blockIdx.z;
	int rep = H / KVH;
	long qstride = (long)H * HD, kstride = (long)KVH * HD;
	int j0 = blk * FA_BK, j1 = min(T, j0 + FA_BK);
	int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
	float *S = Sall + w * 16 * FA_SP;
	float *dP = dPall + w * 16 * FA_SP;
	bf *P = Pall + w * 16 * FA_PP;
	bf *dS = dSall + w * 16 * FA_PP;
	int jw0 = j0 + 16 * w;        // the warp's first key
	int r = lane >> 1, half = lane & 1;
	int j = jw0 + r;              // this lane's key
	bool live = j < j1;
	float s2scale = scale * FA_LOG2E;

	long koff = (long)b * T * kstride + (long)j0 * kstride + g * HD;
	load_tile<HD>(Ks, k + koff, kstride, j1 - j0);
	load_tile<HD>(Vs, v + koff, kstride, j1 - j0);
	FragC dKacc[HD / 16], dVacc[HD / 16];
#pragma unroll
	for (int n = 0; n < HD / 16; n++) {
		wmma::fill_fragment(dKacc[n], 0.0f);
		wmma::fill_fragment(dVacc[n], 0.0f);
	}

	for (int hh = 0; hh < rep; hh++) {
		int h = g * rep + hh;
		// Queries before j0 see no key of the tile; queries whose sample
		// starts at or after j1 see none either (sample starts do not
		// decrease along a row).
		for (int i0 = j0; i0 < T; i0 += FA_BQ) {
			if (seg && seg[b * T + i0] >= j1) break;
			int i1 = min(T, i0 + FA_BQ);
			__syncthreads(); // the previous query tile is no longer read (and Ks, Vs are staged)
			long qoff = (long)b * T * qstride + (long)i0 * qstride + h * HD;
			load_tile<HD>(Qs, q + qoff, qstride, i1 - i0);
			load_tile<HD>(dOs, dout + qoff, qstride, i1 - i0);
			for (int i = threadIdx.x; i < FA_BQ; i += FA_THREADS) {
				bool in = i0 + i < i1;
				long row = (long)(b * T + i0 + i);
				l2s[i] = in ? lse[row * H + h] * FA_LOG2E : 0.0f;
				Ds[i] = in ? Dd[row * H + h] : 0.0f;
				segs[i] = in ? (seg ? seg[row] : 0) : T + 1; // T + 1: no key is visible
			}
			__syncthreads();
			// Warp-uniform: skip warps without live keys and query tiles that
			// end before the warp's first key.
			if (jw0 >= j1 || i1 - 1 < jw0) continue;
			scores<HD>(S, Ks + 16 * w * FA_TP(HD), Qs);
			scores<HD>(dP, Vs + 16 * w * FA_TP(HD), dOs);
			__syncwarp();
#pragma unroll
			for (int i = 0; i < 32; i++) {
				int c = 2 * i + half, qi = i0 + c;
				bool ok = live && qi < i1 && j <= qi && j >= segs[c];
				float p = ok ? exp2f(S[r * FA_SP + c] * s2scale - l2s[c]) : 0.0f;
				P[r * FA_PP + c] = __float2bfloat16_rn(p);
				dS[r * FA_PP + c] = __float2bfloat16_rn(p * (dP[r * FA_SP + c] - Ds[c]));
			}
			__syncwarp();
			accum<HD>(dVacc, P, dOs);
			accum<HD>(dKacc, dS, Qs);
		}
	}
	if (jw0 < j1) {
		long off = (long)(b * T + jw0) * kstride + g * HD;
		store_rows<HD>(dk + off, kstride, min(16, j1 - jw0), dKacc, scale, S);
		store_rows<HD>(dv + off, kstride, min(16, j1 - jw0), dVacc, 1.0f, S);
	}
}
} // namespace fa

#define ATTN_BF16_INST(HD)                                                                                                            \
	extern "C" __global__ void __launch_bounds__(FA_THREADS) attn_fwd_bf16_##HD(float *out, float *lse, const float *q, const float *k, \
	                                                                            const float *v, const int *seg, int B, int T, int H,   \
	                                                                            int KVH, float scale) {                                \
		fa::fwd<HD>(out, lse, q, k, v, seg, T, H, KVH, scale);                                                                       \
	}                                                                                                                                 \
	extern "C" __global__ void __launch_bounds__(FA_THREADS)                                                                          \
	    attn_bwd_dq_bf16_##HD(float *dq, const float *q, const float *k, const float *v, const float *dout, const float *lse,          \
	                          const float *Dd, const int *seg, int B, int T, int H, int KVH, float scale) {                           \
		fa::bwd_dq<HD>(dq, q, k, v, dout, lse, Dd, seg, T, H, KVH, scale);                                                          \
	}                                                                                                                                 \
	extern "C" __global__ void __launch_bounds__(FA_THREADS)                                                                          \
	    attn_bwd_dkdv_bf16_##HD(float *dk, float *dv, const float *q, const float *k, const float *v, const float *dout,              \
	                            const float *lse, const float *Dd, const int *seg, int B, int T, int H, int KVH, float scale) {       \
		fa::bwd_dkdv<HD>(dk, dv, q, k, v, dout, lse, Dd, seg, T, H, KVH, scale);                                                    \
	}

ATTN_BF16_INST(64)
ATTN_BF16_INST(128)
