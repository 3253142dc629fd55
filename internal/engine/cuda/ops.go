package cuda

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// The kernels of kernels.cu that Open looks up.
var kernelNames = []string{
	"cast_f32_bf16", "cast_bf16_f32", "add_f32", "add3_f32", "scale_f32", "bias_add", "colsum_acc",
	"embedding_fwd", "embedding_bwd", "rmsnorm_fwd", "rmsnorm_bwd", "rmsnorm_dw", "rope",
	"swiglu_fwd", "swiglu_bwd", "dropout_fwd", "dropout_bwd_acc", "xent_rows",
	"nf4_scales_dq", "nf4_dequant", "sumsq_acc", "clip_factor", "adamw", "attn_rowdot", "attn_decode",
	"attn_fwd_8", "attn_bwd_dq_8", "attn_bwd_dkdv_8",
	"attn_fwd_16", "attn_bwd_dq_16", "attn_bwd_dkdv_16",
	"attn_fwd_32", "attn_bwd_dq_32", "attn_bwd_dkdv_32",
	"attn_fwd_64", "attn_bwd_dq_64", "attn_bwd_dkdv_64",
	"attn_fwd_128", "attn_bwd_dq_128", "attn_bwd_dkdv_128",
	"attn_fwd_bf16_64", "attn_bwd_dq_bf16_64", "attn_bwd_dkdv_bf16_64",
	"attn_fwd_bf16_128", "attn_bwd_dq_bf16_128", "attn_bwd_dkdv_bf16_128",
}

// Attention tiling, as in kernels.cu.
const (
	attnQB = 64
	attnKT = 32
)

// AttnHeadDims are the head sizes the attention kernels are built for.
var AttnHeadDims = []int{8, 16, 32, 64, 128}

// attnSmem is the dynamic shared memory of each attention kernel (see
// kernels.cu).
var attnSmem = func() map[int]map[string]int {
	m := map[int]map[string]int{}
	for _, hd := range AttnHeadDims {
		if hd <= 64 { // the register-resident v2 kernels
			m[hd] = map[string]int{
				"fwd":      2 * attnKT * hd * 4,
				"bwd_dq":   2 * attnKT * hd * 4,
				"bwd_dkdv": (2*attnKT*hd + 2*attnQB*(hd+4) + 3*attnKT) * 4,
			}
			continue
		}
		m[hd] = map[string]int{
			"fwd":      (2*attnKT*hd + attnQB*(hd+1)) * 4,
			"bwd_dq":   (2*attnKT*hd + 2*attnQB*(hd+1)) * 4,
			"bwd_dkdv": (2*attnKT*hd + 2*attnQB*(hd+1) + 3*attnKT) * 4,
		}
	}
	return m
}()

// The bf16 tensor-core attention kernels (kernels.cu, "attention on bf16
// tensor cores"): 4 warps a block, tiles of 64 query and 64 key rows.
const (
	attnBF16Threads = 128
	attnBF16Tile    = 64
)

// AttnBF16HeadDims are the head sizes the bf16 attention kernels are built
// for; other head sizes use the float32 kernels whatever the selection.
var AttnBF16HeadDims = []int{64, 128}

// attnBF16Smem is the dynamic shared memory of each bf16 attention kernel,
// as the layout comment in kernels.cu gives it.
var attnBF16Smem = func() map[int]map[string]int {
	const sp, pp, warps = attnBF16Tile + 4, attnBF16Tile + 8, attnBF16Threads / 32
	m := map[int]map[string]int{}
	for _, hd := range AttnBF16HeadDims {
		tile := attnBF16Tile * (hd + 8) * 2 // one bf16 tile of 64 rows
		m[hd] = map[string]int{
			"fwd":      3*tile + warps*16*(sp*4+pp*2+(hd+4)*4),
			"bwd_dq":   4*tile + warps*16*(2*sp*4+pp*2),
			"bwd_dkdv": 4*tile + warps*16*(2*sp*4+2*pp*2) + 3*attnBF16Tile*4,
		}
	}
	return m
}()

// AttnKernels names the attention kernels a Device runs.
type AttnKernels string

const (
	// AttnF32 is the float32 CUDA-core attention, the default.
	AttnF32 AttnKernels = "f32"
	// AttnBF16 is the FlashAttention-2 style attention on bf16 tensor cores
	// (f32 accumulation and softmax statistics) for head dims 64 and 128;
	// other head dims run AttnF32. Not yet the default: it has not been
	// checked on hardware.
	AttnBF16 AttnKernels = "bf16"
)

// AttnKernelsEnv is the environment variable Open reads the attention
// kernels from: unset or "f32" for AttnF32, "bf16" for AttnBF16.
const AttnKernelsEnv = "WHET_CUDA_ATTN"

// ParseAttnKernels parses a WHET_CUDA_ATTN value ("" is AttnF32).
func ParseAttnKernels(v string) (AttnKernels, error) {
	switch AttnKernels(v) {
	case "", AttnF32:
		return AttnF32, nil
	case AttnBF16:
		return AttnBF16, nil
	}
	return "", fmt.Errorf("%s=%q: want %q or %q", AttnKernelsEnv, v, AttnF32, AttnBF16)
}

// SetAttnKernels selects the attention kernels for later Attention and
// AttentionBackward calls (Open sets them from WHET_CUDA_ATTN). It returns
// an error, and changes nothing, if AttnBF16 cannot run on this device
// (its shared memory does not fit).
func (d *Device) SetAttnKernels(k AttnKernels) error {
	if _, err := ParseAttnKernels(string(k)); err != nil {
		return err
	}
	if k == AttnBF16 && d.attnBF16Err != nil {
		return fmt.Errorf("cuda: bf16 attention unavailable on %s: %w", d.Info.Name, d.attnBF16Err)
	}
	d.attnKernels = k
	return nil
}

// AttnKernels reports the selected attention kernels.
func (d *Device) AttnKernels() AttnKernels { return cmp.Or(d.attnKernels, AttnF32) }

// attnBF16 reports whether the bf16 kernels run shape s.
func (d *Device) attnBF16(s AttnShape) bool {
	return d.AttnKernels() == AttnBF16 && slices.Contains(AttnBF16HeadDims, s.HeadDim)
}

type planKey struct {
	ta, tb        bool
	m, n, k       int
	lda, ldb, ldc int
	bf16          bool
	align         int
}

// alignment is the largest power of two (≤ 256) dividing every pointer:
// cuBLASLt's heuristic must only pick kernels that accept it.
func alignment(ps ...uint64) int {
	a := 256
	for _, p := range ps {
		for a > 1 && p%uint64(a) != 0 {
			a /= 2
		}
	}
	return a
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices
// (op(A) m×k, op(B) k×n, C m×n float32), as blas.Sgemm. With bf16 set A and
// B hold bfloat16 values, accumulated in float32 (cuBLASLt, CUBLAS_COMPUTE_32F);
// otherwise all three are float32.
func (d *Device) Gemm(transA, transB bool, m, n, k int, alpha float32, a Buffer, lda int, b Buffer, ldb int, beta float32, c Buffer, ldc int, bf16 bool) error {
	if m == 0 || n == 0 {
		return nil
	}
	// Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ.
	key := planKey{ta: transB, tb: transA, m: n, n: m, k: k, lda: ldb, ldb: lda, ldc: ldc, bf16: bf16, align: alignment(a.ptr, b.ptr, c.ptr)}
	d.mu.Lock()
	plan := d.plans[key]
	d.mu.Unlock()
	if plan == nil {
		var err error
		plan, err = ltMakePlan(key.ta, key.tb, key.m, key.n, key.k, key.lda, key.ldb, key.ldc, bf16, d.wsSize, key.align)
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.plans[key] = plan
		d.mu.Unlock()
	}
	e0 := d.profBegin()
	err := ltRun(plan, alpha, b.ptr, a.ptr, beta, c.ptr, d.ws, d.wsSize)
	kind := "gemm_f32"
	if bf16 {
		kind = "gemm_bf16"
	}
	d.profEnd(kind, e0)
	return err
}

// CastBF16 writes src (float32) as bfloat16 into dst.
func (d *Device) CastBF16(dst, src Buffer, n int) error {
	return d.launch("cast_f32_bf16", grid1(int64(n)), t256, 0, dst, src, int64(n))
}

// CastF32 writes src (bfloat16) as float32 into dst.
func (d *Device) CastF32(dst, src Buffer, n int) error {
	return d.launch("cast_bf16_f32", grid1(int64(n)), t256, 0, dst, src, int64(n))
}

// Add: dst += src.
func (d *Device) Add(dst, src Buffer, n int) error {
	return d.launch("add_f32", grid1(int64(n)), t256, 0, dst, src, int64(n))
}

// Add3: dst = a + b.
func (d *Device) Add3(dst, a, b Buffer, n int) error {
	return d.launch("add3_f32", grid1(int64(n)), t256, 0, dst, a, b, int64(n))
}

// Scale: x *= a.
func (d *Device) Scale(x Buffer, n int, a float32) error {
	return d.launch("scale_f32", grid1(int64(n)), t256, 0, x, int64(n), a)
}

// BiasAdd: y[r, j] += b[j] for y [n, dim].
func (d *Device) BiasAdd(y, b Buffer, n, dim int) error {
	return d.launch("bias_add", grid1(int64(n)*int64(dim)), t256, 0, y, b, int64(n), dim)
}

const colRows = 256

// ColSumAcc: dst[j] += Σ_r src[r, j] for src [n, dim].
func (d *Device) ColSumAcc(dst, src Buffer, n, dim int) error {
	g := [3]uint32{uint32((dim + 255) / 256), uint32((n + colRows - 1) / colRows), 1}
	return d.launch("colsum_acc", g, t256, 0, dst, src, n, dim, colRows)
}

// Embedding: out[r] = table[ids[r]] for ids (int32 on the device) [n].
func (d *Device) Embedding(out, table, ids Buffer, n, dim int) error {
	return d.launch("embedding_fwd", [3]uint32{uint32(n), 1, 1}, t256, 0, out, table, ids, n, dim)
}

// EmbeddingBackward: dtable[ids[r]] += dout[r].
func (d *Device) EmbeddingBackward(dtable, dout, ids Buffer, n, dim int) error {
	return d.launch("embedding_bwd", [3]uint32{uint32(n), 1, 1}, t256, 0, dtable, dout, ids, n, dim)
}

// RMSNorm as nn.RMSNorm; outbf (may be null) also receives out in bf16.
func (d *Device) RMSNorm(out, rstd, outbf, x, w Buffer, n, dim int, eps float32) error {
	return d.launch("rmsnorm_fwd", [3]uint32{uint32(n), 1, 1}, normThreads(dim), 0, out, rstd, outbf, x, w, n, dim, eps)
}

// RMSNormBackward as nn.RMSNormBackward without dw (see RMSNormDW).
func (d *Device) RMSNormBackward(dx, dout, x, w, rstd Buffer, n, dim int, accumulate bool) error {
	return d.launch("rmsnorm_bwd", [3]uint32{uint32(n), 1, 1}, normThreads(dim), 0, dx, dout, x, w, rstd, n, dim, accumulate)
}

// RMSNormDW: dw += ∂L/∂w.
func (d *Device) RMSNormDW(dw, dout, x, rstd Buffer, n, dim int) error {
	g := [3]uint32{uint32((dim + 255) / 256), uint32((n + colRows - 1) / colRows), 1}
	return d.launch("rmsnorm_dw", g, t256, 0, dw, dout, x, rstd, n, dim, colRows)
}

func normThreads(dim int) [3]uint32 {
	t := 32
	for t < dim && t < 1024 {
		t *= 2
	}
	return [3]uint32{uint32(t), 1, 1}
}

// Rope rotates x [n, heads·hd] in place (nn.Rope.Apply) with cos/sin tables
// [maxPos, hd/2] and positions pos (int32) [n].
func (d *Device) Rope(x, cos, sin, pos Buffer, n, heads, hd int, inverse bool) error {
	return d.launch("rope", grid1(int64(n)*int64(heads)*int64(hd/2)), t256, 0, x, cos, sin, pos, n, heads, hd, inverse)
}

// SwiGLU as nn.SwiGLUSaved (sig may be null); outbf (may be null) gets
// out in bf16.
func (d *Device) SwiGLU(out, sig, outbf, gate, up Buffer, n int) error {
	return d.launch("swiglu_fwd", grid1(int64(n)), t256, 0, out, sig, outbf, gate, up, int64(n))
}

// SwiGLUBackward as nn.SwiGLUBackwardSaved.
func (d *Device) SwiGLUBackward(dgate, dup, dout, gate, up, sig Buffer, n int) error {
	return d.launch("swiglu_bwd", grid1(int64(n)), t256, 0, dgate, dup, dout, gate, up, sig, int64(n))
}

// Dropout writes xd = x with elements dropped (probability p, the CPU
// engine's splitmix hash of seed and index) and the rest scaled by 1/(1−p).
func (d *Device) Dropout(xd, x Buffer, n int, seed uint64, p float32) error {
	thr := uint64(float64(p) * (1 << 53))
	return d.launch("dropout_fwd", grid1(int64(n)), t256, 0, xd, x, int64(n), seed, thr, 1/(1-p))
}

// DropoutBackwardAcc: dx += dxd/(1−p) where Dropout kept the element.
func (d *Device) DropoutBackwardAcc(dx, dxd, xd, x Buffer, n int, p float32) error {
	return d.launch("dropout_bwd_acc", grid1(int64(n)), t256, 0, dx, dxd, xd, x, int64(n), 1/(1-p))
}

// XentRows turns m rows of logits [m, vocab] into per-row losses (0 for
// label −100) and, with grad, into gradScale·(softmax − onehot) in place
// and, when gbf is not null, in bf16 into gbf.
func (d *Device) XentRows(logits, gbf, loss, labels Buffer, m, vocab int, gradScale float32, grad bool) error {
	return d.launch("xent_rows", [3]uint32{uint32(m), 1, 1}, [3]uint32{1024, 1, 1}, 0, logits, gbf, loss, labels, m, vocab, gradScale, grad)
}

// NF4Scales writes the double-quantized absmax scales of nblocks blocks.
func (d *Device) NF4Scales(scales, absmaxQ, absmax2, map8 Buffer, offset float32, nblocks int) error {
	return d.launch("nf4_scales_dq", grid1(int64(nblocks)), t256, 0, scales, absmaxQ, absmax2, map8, offset, int64(nblocks))
}

// NF4Dequant dequantizes n weights into out (f32) or outbf (bf16; then out
// is null).
func (d *Device) NF4Dequant(out, outbf, codes, scales Buffer, n int) error {
	return d.launch("nf4_dequant", grid1(int64(n)), t256, 0, out, outbf, codes, scales, int64(n))
}

// SumSqAcc: *acc (one float64) += Σ x².
func (d *Device) SumSqAcc(acc, x Buffer, n int) error {
	g := min((n+255)/256, 1024)
	return d.launch("sumsq_acc", [3]uint32{uint32(max(g, 1)), 1, 1}, t256, 0, acc, x, int64(n))
}

// ClipFactor computes the global norm from the float64 sum of squares and
// the clip factor (1 when no clipping is needed or maxNorm ≤ 0), both as
// one float32 on the device.
func (d *Device) ClipFactor(clip, norm, sumsq Buffer, maxNorm float32) error {
	return d.launch("clip_factor", [3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, 0, clip, norm, sumsq, maxNorm)
}

// AdamW is one nn.AdamW step on n parameters at optimiser step t (1-based),
// the gradient first multiplied by *clip (null: no clipping).
func (d *Device) AdamW(p, g, m, v, clip Buffer, n int, beta1, beta2, eps, weightDecay float64, t int, lr float64) error {
	bc1 := 1 - math.Pow(beta1, float64(t))
	bc2 := 1 - math.Pow(beta2, float64(t))
	return d.launch("adamw", grid1(int64(n)), t256, 0, p, g, m, v, int64(n), clip, float32(beta1), float32(beta2),
		float32(1-lr*weightDecay), float32(lr/bc1), float32(math.Sqrt(bc2)), float32(eps))
}

// AttnShape is a batch of causal GQA self-attention (nn.AttnShape); Seg
// is the device copy of SegStart (null: one sample per sequence).
type AttnShape struct {
	B, T, Heads, KVHeads, HeadDim int
	Seg                           Buffer
}

func (s AttnShape) check() error {
	if s.Heads%s.KVHeads != 0 {
		return fmt.Errorf("cuda attention: %d heads not a multiple of %d kv heads", s.Heads, s.KVHeads)
	}
	for _, hd := range AttnHeadDims {
		if hd == s.HeadDim {
			return nil
		}
	}
	return fmt.Errorf("cuda attention: head dim %d not built (have %v)", s.HeadDim, AttnHeadDims)
}

// SupportsHeadDim reports whether the attention kernels cover hd.
func SupportsHeadDim(hd int) bool {
	return (AttnShape{Heads: 1, KVHeads: 1, HeadDim: hd}).check() == nil
}

// Attention is the fused causal attention forward (nn.Attention): out and
// the per-row log-sum-exp lse [B·T·Heads] (null: not saved). The kernels
// are the float32 ones unless SetAttnKernels (WHET_CUDA_ATTN) chose AttnBF16
// and the head dim has bf16 kernels.
func (d *Device) Attention(out, lse, q, k, v Buffer, s AttnShape) error {
	if err := s.check(); err != nil {
		return err
	}
	scale := float32(1 / math.Sqrt(float64(s.HeadDim)))
	if d.attnBF16(s) {
		g := [3]uint32{uint32((s.T + attnBF16Tile - 1) / attnBF16Tile), uint32(s.Heads), uint32(s.B)}
		return d.launch(fmt.Sprintf("attn_fwd_bf16_%d", s.HeadDim), g, [3]uint32{attnBF16Threads, 1, 1}, attnBF16Smem[s.HeadDim]["fwd"],
			out, lse, q, k, v, s.Seg, s.B, s.T, s.Heads, s.KVHeads, scale)
	}
	g := [3]uint32{uint32((s.T + attnQB - 1) / attnQB), uint32(s.Heads), uint32(s.B)}
	return d.launch(fmt.Sprintf("attn_fwd_%d", s.HeadDim), g, [3]uint32{attnQB, 1, 1}, attnSmem[s.HeadDim]["fwd"],
		out, lse, q, k, v, s.Seg, s.B, s.T, s.Heads, s.KVHeads, scale)
}

// AttentionBackward computes dq, dk, dv (overwritten) as nn.AttentionBackward;
// scratch holds B·T·Heads float32 values. It runs the same kernels as
// Attention (lse must come from it).
func (d *Device) AttentionBackward(dq, dk, dv, dout, q, k, v, out, lse, scratch Buffer, s AttnShape) error {
	if err := s.check(); err != nil {
		return err
	}
	n := s.B * s.T
	if err := d.launch("attn_rowdot", grid1(int64(n)*int64(s.Heads)*32), t256, 0, scratch, out, dout, n, s.Heads, s.HeadDim); err != nil {
		return err
	}
	scale := float32(1 / math.Sqrt(float64(s.HeadDim)))
	if d.attnBF16(s) {
		nb := uint32((s.T + attnBF16Tile - 1) / attnBF16Tile)
		sm, blk := attnBF16Smem[s.HeadDim], [3]uint32{attnBF16Threads, 1, 1}
		if err := d.launch(fmt.Sprintf("attn_bwd_dq_bf16_%d", s.HeadDim), [3]uint32{nb, uint32(s.Heads), uint32(s.B)}, blk,
			sm["bwd_dq"], dq, q, k, v, dout, lse, scratch, s.Seg, s.B, s.T, s.Heads, s.KVHeads, scale); err != nil {
			return err
		}
		return d.launch(fmt.Sprintf("attn_bwd_dkdv_bf16_%d", s.HeadDim), [3]uint32{nb, uint32(s.KVHeads), uint32(s.B)}, blk,
			sm["bwd_dkdv"], dk, dv, q, k, v, dout, lse, scratch, s.Seg, s.B, s.T, s.Heads, s.KVHeads, scale)
	}
	nb := uint32((s.T + attnQB - 1) / attnQB)
	if err := d.launch(fmt.Sprintf("attn_bwd_dq_%d", s.HeadDim), [3]uint32{nb, uint32(s.Heads), uint32(s.B)}, [3]uint32{attnQB, 1, 1},
		attnSmem[s.HeadDim]["bwd_dq"], dq, q, k, v, dout, lse, scratch, s.Seg, s.B, s.T, s.Heads, s.KVHeads, scale); err != nil {
		return err
	}
	return d.launch(fmt.Sprintf("attn_bwd_dkdv_%d", s.HeadDim), [3]uint32{nb, uint32(s.KVHeads), uint32(s.B)}, [3]uint32{attnQB, 1, 1},
		attnSmem[s.HeadDim]["bwd_dkdv"], dk, dv, q, k, v, dout, lse, scratch, s.Seg, s.B, s.T, s.Heads, s.KVHeads, scale)
}

// attnDecThreads is attn_decode's block size (ATTN_DEC_THREADS in kernels.cu).
const attnDecThreads = 256

// AttentionDecode is one decoding step's attention (nn.AttentionCached with
// one new row): q [heads·hd] is the newest token's query, at position L−1,
// and kc, vc hold the keys (after RoPE) and values of the first L positions,
// [≥L, kvHeads·hd] (a KV cache, its newest row already appended). out gets
// [heads·hd]; scores is scratch of at least heads·L float32 values.
func (d *Device) AttentionDecode(out, scores, q, kc, vc Buffer, L, heads, kvHeads, hd int) error {
	if err := (AttnShape{Heads: heads, KVHeads: kvHeads, HeadDim: hd}).check(); err != nil {
		return err
	}
	if L < 1 {
		return fmt.Errorf("cuda attention decode: %d cached rows", L)
	}
	if hd > attnDecThreads || attnDecThreads%hd != 0 {
		return fmt.Errorf("cuda attention decode: head dim %d does not divide %d", hd, attnDecThreads)
	}
	kd := int64(kvHeads) * int64(hd) * 4
	if scores.bytes < int64(heads)*int64(L)*4 || kc.bytes < int64(L)*kd || vc.bytes < int64(L)*kd || q.bytes < int64(heads*hd)*4 || out.bytes < int64(heads*hd)*4 {
		return fmt.Errorf("cuda attention decode: buffers too small for %d rows of %d×%d heads (kv %d)", L, heads, hd, kvHeads)
	}
	scale := float32(1 / math.Sqrt(float64(hd)))
	return d.launch("attn_decode", [3]uint32{uint32(heads), 1, 1}, [3]uint32{attnDecThreads, 1, 1}, 0,
		out, scores, q, kc, vc, L, heads, kvHeads, hd, scale)
}

// MeasureMatmul times square n×n×n products (bf16 operands with f32
// accumulation, or f32) through cuBLASLt with device events, iters times
// after one warm-up, on random data, and returns TFLOP/s of the median run.
func (d *Device) MeasureMatmul(n, iters int, bf16 bool) (float64, error) {
	size := int64(n) * int64(n)
	es := int64(4)
	if bf16 {
		es = 2
	}
	var bufs []Buffer
	defer func() {
		for _, b := range bufs {
			d.Free(b)
		}
	}()
	alloc := func(bytes int64) (Buffer, error) {
		b, err := d.Alloc(bytes)
		if err == nil {
			bufs = append(bufs, b)
		}
		return b, err
	}
	src, err := alloc(size * 4)
	if err != nil {
		return 0, err
	}
	host := make([]float32, size)
	s := uint32(12345)
	for i := range host {
		s = s*1664525 + 1013904223
		host[i] = float32(int32(s>>8)%2001-1000) / 1000
	}
	if err := Upload(src, host); err != nil {
		return 0, err
	}
	a, err := alloc(size * es)
	if err != nil {
		return 0, err
	}
	b, err := alloc(size * es)
	if err != nil {
		return 0, err
	}
	c, err := alloc(size * 4)
	if err != nil {
		return 0, err
	}
	if bf16 {
		if err := d.CastBF16(a, src, int(size)); err != nil {
			return 0, err
		}
		if err := d.CastBF16(b, src, int(size)); err != nil {
			return 0, err
		}
	} else {
		d.Copy(a, src)
		d.Copy(b, src)
	}
	times := make([]float64, 0, iters)
	for i := 0; i <= iters; i++ {
		e0, err := d.Record()
		if err != nil {
			return 0, err
		}
		if err := d.Gemm(false, true, n, n, n, 1, a, n, b, n, 0, c, n, bf16); err != nil {
			return 0, err
		}
		e1, err := d.Record()
		if err != nil {
			return 0, err
		}
		ms, err := Elapsed(e0, e1)
		if err != nil {
			return 0, err
		}
		if i > 0 {
			times = append(times, float64(ms))
		}
	}
	slices.Sort(times)
	med := times[len(times)/2]
	return 2 * float64(n) * float64(n) * float64(n) / (med / 1e3) / 1e12, nil
}
