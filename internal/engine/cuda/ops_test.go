package cuda

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/engine/blas"
	"github.com/whetstone/whetstone/internal/engine/nn"
)

// The GPU tests compare every device op with the CPU engine (package nn),
// the reference: float32 ops within 1e-4 relative L2 error, bf16 products
// within the bf16 rounding stated per test. They skip where no usable GPU
// is found, unless WHET_REQUIRE_GPU=1 (scripts/gpu-check.sh sets it), which
// turns the skip into a failure.

func testDevice(t *testing.T) *Device {
	t.Helper()
	d, err := Open(0)
	if err != nil {
		if os.Getenv("WHET_REQUIRE_GPU") == "1" {
			t.Fatalf("WHET_REQUIRE_GPU=1 but: %v", err)
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Open: error does not wrap ErrUnavailable: %v", err)
		}
		t.Skipf("no GPU: %v", err)
	}
	return d
}

func randn(r *rand.Rand, n int, s float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * s)
	}
	return x
}

// relErr is ‖got − want‖ / ‖want‖ (NaN anywhere: +Inf).
func relErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var num, den float64
	for i := range got {
		if math.IsNaN(float64(got[i])) || math.IsInf(float64(got[i]), 0) {
			return math.Inf(1)
		}
		e := float64(got[i]) - float64(want[i])
		num += e * e
		den += float64(want[i]) * float64(want[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

type tester struct {
	t    *testing.T
	d    *Device
	bufs []Buffer
}

func newTester(t *testing.T) *tester {
	tt := &tester{t: t, d: testDevice(t)}
	t.Cleanup(func() {
		for _, b := range tt.bufs {
			tt.d.Free(b)
		}
	})
	return tt
}

// up uploads host values (float32, int32, uint16, uint8) to a new buffer.
func up[T float32 | int32 | uint16 | uint8 | float64](tt *tester, x []T) Buffer {
	tt.t.Helper()
	var z T
	size := int64(len(x)) * int64(sizeOf(z))
	b, err := tt.d.Alloc(max(size, 8))
	if err != nil {
		tt.t.Fatal(err)
	}
	tt.bufs = append(tt.bufs, b)
	if err := Upload(b, x); err != nil {
		tt.t.Fatal(err)
	}
	return b
}

func sizeOf[T float32 | int32 | uint16 | uint8 | float64](T) int {
	var z T
	switch any(z).(type) {
	case float32, int32:
		return 4
	case uint16:
		return 2
	case uint8:
		return 1
	}
	return 8
}

// poison returns a float32 buffer of n NaNs (so unwritten outputs show).
func (tt *tester) poison(n int) Buffer {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.NaN())
	}
	return up(tt, x)
}

func (tt *tester) down(b Buffer, n int) []float32 {
	tt.t.Helper()
	x := make([]float32, n)
	if err := Download(x, b); err != nil {
		tt.t.Fatal(err)
	}
	return x
}

func (tt *tester) ok(err error) {
	tt.t.Helper()
	if err != nil {
		tt.t.Fatal(err)
	}
}

func (tt *tester) close(name string, got, want []float32, tol float64) {
	tt.t.Helper()
	e := relErr(got, want)
	tt.t.Logf("%s: relative error %.3g (bound %.0e)", name, e, tol)
	if !(e <= tol) {
		tt.t.Errorf("%s: relative error %.3g > %.0e", name, e, tol)
	}
}

func TestGemmMatchesCPU(t *testing.T) {
	tt := newTester(t)
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		ta, tb  bool
		m, n, k int
	}{{false, true, 300, 257, 129}, {false, false, 64, 96, 1000}, {true, false, 33, 70, 515}, {true, true, 17, 9, 31}} {
		a, b, c0 := randn(r, c.m*c.k, 1), randn(r, c.k*c.n, 1), randn(r, c.m*c.n, 1)
		lda, ldb := c.k, c.n
		if c.ta {
			lda = c.m
		}
		if c.tb {
			ldb = c.k
		}
		want := append([]float32(nil), c0...)
		blas.Sgemm(c.ta, c.tb, c.m, c.n, c.k, 0.7, a, lda, b, ldb, 0.3, want, c.n)
		gc := up(tt, c0)
		tt.ok(tt.d.Gemm(c.ta, c.tb, c.m, c.n, c.k, 0.7, up(tt, a), lda, up(tt, b), ldb, 0.3, gc, c.n, false))
		tt.close("f32 gemm", tt.down(gc, c.m*c.n), want, 1e-5)
		// bf16: A rounded on the device, B given as bf16; reference is
		// blas' bf16 product (same roundings, f32 accumulation).
		if c.ta || c.tb != true {
			continue
		}
		bbf := nn.ToBF16(b)
		want = append([]float32(nil), c0...)
		blas.SgemmBF16W(c.ta, c.tb, c.m, c.n, c.k, 0.7, a, lda, bbf, ldb, 0.3, want, c.n)
		abf, err := tt.d.Alloc(int64(len(a)) * 2)
		tt.ok(err)
		tt.bufs = append(tt.bufs, abf)
		tt.ok(tt.d.CastBF16(abf, up(tt, a), len(a)))
		gc = up(tt, c0)
		tt.ok(tt.d.Gemm(c.ta, c.tb, c.m, c.n, c.k, 0.7, abf, lda, up(tt, bbf), ldb, 0.3, gc, c.n, true))
		tt.close("bf16 gemm (same roundings, f32 accumulation)", tt.down(gc, c.m*c.n), want, 1e-5)
	}
}

func TestCastsMatchCPU(t *testing.T) {
	tt := newTester(t)
	r := rand.New(rand.NewPCG(3, 4))
	x := randn(r, 100003, 3)
	x[5], x[6] = float32(math.Inf(1)), 1e-40
	bfb, err := tt.d.Alloc(int64(len(x)) * 2)
	tt.ok(err)
	tt.bufs = append(tt.bufs, bfb)
	tt.ok(tt.d.CastBF16(bfb, up(tt, x), len(x)))
	got := make([]uint16, len(x))
	tt.ok(Download(got, bfb))
	want := nn.ToBF16(x)
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("bf16 of %g: device %#x, CPU %#x", x[i], got[i], want[i])
		}
	}
	back := tt.poison(len(x))
	tt.ok(tt.d.CastF32(back, bfb, len(x)))
	f := tt.down(back, len(x))
	for i := range f {
		if math.Float32bits(f[i]) != uint32(want[i])<<16 {
			t.Fatalf("f32 of bf16 %#x: %g", want[i], f[i])
		}
	}
}

func TestNormRopeSwiGLUEmbeddingMatchCPU(t *testing.T) {
	tt := newTester(t)
	r := rand.New(rand.NewPCG(5, 6))
	n, dim := 77, 320
	x, w, dy := randn(r, n*dim, 1), randn(r, dim, 1), randn(r, n*dim, 1)
	out, rstd := make([]float32, n*dim), make([]float32, n)
	nn.RMSNorm(out, rstd, x, w, n, dim, 1e-5)
	gout, grstd := tt.poison(n*dim), tt.poison(n)
	gx, gw := up(tt, x), up(tt, w)
	tt.ok(tt.d.RMSNorm(gout, grstd, Buffer{}, gx, gw, n, dim, 1e-5))
	tt.close("rmsnorm", tt.down(gout, n*dim), out, 1e-6)
	tt.close("rmsnorm rstd", tt.down(grstd, n), rstd, 1e-6)
	dx, dw := randn(r, n*dim, 1), make([]float32, dim)
	dx0 := append([]float32(nil), dx...)
	nn.RMSNormBackward(dx, dw, dy, x, w, rstd, n, dim, true)
	gdx, gdw := up(tt, dx0), up(tt, make([]float32, dim))
	gdy := up(tt, dy)
	tt.ok(tt.d.RMSNormBackward(gdx, gdy, gx, gw, grstd, n, dim, true))
	tt.ok(tt.d.RMSNormDW(gdw, gdy, gx, grstd, n, dim))
	tt.close("rmsnorm backward dx", tt.down(gdx, n*dim), dx, 1e-5)
	tt.close("rmsnorm backward dw", tt.down(gdw, dim), dw, 1e-5)

	// RoPE with llama3 scaling, forward and inverse.
	hd, heads, maxPos := 64, 5, 300
	rp := nn.NewRope(hd, maxPos, nn.InvFreq(hd, 500000, &nn.RopeScaling{Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192}))
	rows := 90
	q := randn(r, rows*heads*hd, 1)
	pos := make([]int32, rows)
	for i := range pos {
		pos[i] = int32(r.IntN(maxPos))
	}
	gq := up(tt, q)
	gcos, gsin, gpos := up(tt, rp.Cos), up(tt, rp.Sin), up(tt, pos)
	for _, inv := range []bool{false, true} {
		rp.Apply(q, pos, rows, heads, inv)
		tt.ok(tt.d.Rope(gq, gcos, gsin, gpos, rows, heads, hd, inv))
		tt.close("rope", tt.down(gq, len(q)), q, 1e-6)
	}

	// SwiGLU forward (saved sigmoid) and backward.
	m := 50001
	gate, upv, dout := randn(r, m, 2), randn(r, m, 1), randn(r, m, 1)
	o, sig := make([]float32, m), make([]float32, m)
	nn.SwiGLUSaved(o, sig, gate, upv)
	gO, gS := tt.poison(m), tt.poison(m)
	gG, gU := up(tt, gate), up(tt, upv)
	tt.ok(tt.d.SwiGLU(gO, gS, Buffer{}, gG, gU, m))
	tt.close("swiglu", tt.down(gO, m), o, 1e-6)
	dg, du := make([]float32, m), make([]float32, m)
	nn.SwiGLUBackwardSaved(dg, du, dout, gate, upv, sig)
	gdg, gdu := tt.poison(m), tt.poison(m)
	tt.ok(tt.d.SwiGLUBackward(gdg, gdu, up(tt, dout), gG, gU, gS, m))
	tt.close("swiglu backward dgate", tt.down(gdg, m), dg, 1e-6)
	tt.close("swiglu backward dup", tt.down(gdu, m), du, 1e-6)

	// Embedding and its backward (repeated ids accumulate).
	vocab := 300
	table := randn(r, vocab*dim, 1)
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(r.IntN(vocab / 10))
	}
	eo := make([]float32, n*dim)
	nn.Embedding(eo, table, ids, dim)
	geo := tt.poison(n * dim)
	gids := up(tt, ids)
	tt.ok(tt.d.Embedding(geo, up(tt, table), gids, n, dim))
	tt.close("embedding", tt.down(geo, n*dim), eo, 0)
	dt := make([]float32, vocab*dim)
	nn.EmbeddingBackward(dt, dy, ids, dim)
	gdt := up(tt, make([]float32, vocab*dim))
	tt.ok(tt.d.EmbeddingBackward(gdt, gdy, gids, n, dim))
	tt.close("embedding backward", tt.down(gdt, vocab*dim), dt, 1e-6)
}

func TestAttentionMatchesCPU(t *testing.T) {
	tt := newTester(t)
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct {
		name             string
		B, T, H, KVH, hd int
		packed           bool
	}{
		{"hd64 gqa", 2, 200, 8, 2, 64, false},
		{"hd64 packed", 2, 150, 4, 4, 64, true},
		{"hd128", 1, 130, 4, 2, 128, false},
		{"hd8 stories-shape", 3, 70, 8, 4, 8, true},
		{"hd32", 1, 65, 2, 1, 32, false},
		{"hd16", 2, 33, 4, 2, 16, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			tt := &tester{t: t, d: tt.d}
			defer func() {
				for _, b := range tt.bufs {
					tt.d.Free(b)
				}
			}()
			N, qs, ks := c.B*c.T, c.H*c.hd, c.KVH*c.hd
			q, k, v, dout := randn(r, N*qs, 1), randn(r, N*ks, 1), randn(r, N*ks, 1), randn(r, N*qs, 1)
			s := nn.AttnShape{B: c.B, T: c.T, Heads: c.H, KVHeads: c.KVH, HeadDim: c.hd}
			gs := AttnShape{B: c.B, T: c.T, Heads: c.H, KVHeads: c.KVH, HeadDim: c.hd}
			if c.packed {
				seg := make([]int32, N)
				for b := 0; b < c.B; b++ {
					start := 0
					for t := 0; t < c.T; t++ {
						if t > 0 && r.IntN(40) == 0 {
							start = t
						}
						seg[b*c.T+t] = int32(start)
					}
				}
				s.SegStart = seg
				gs.Seg = up(tt, seg)
			}
			out, lse := make([]float32, N*qs), make([]float32, N*c.H)
			nn.Attention(out, lse, q, k, v, s)
			gq, gk, gv := up(tt, q), up(tt, k), up(tt, v)
			gout, glse := tt.poison(N*qs), tt.poison(N*c.H)
			tt.ok(tt.d.Attention(gout, glse, gq, gk, gv, gs))
			tt.close("attention out", tt.down(gout, N*qs), out, 1e-5)
			tt.close("attention lse", tt.down(glse, N*c.H), lse, 1e-6)
			dq, dk, dv := make([]float32, N*qs), make([]float32, N*ks), make([]float32, N*ks)
			nn.AttentionBackward(dq, dk, dv, dout, q, k, v, out, lse, s)
			gdq, gdk, gdv, scr := tt.poison(N*qs), tt.poison(N*ks), tt.poison(N*ks), tt.poison(N*c.H)
			tt.ok(tt.d.AttentionBackward(gdq, gdk, gdv, up(tt, dout), gq, gk, gv, gout, glse, scr, gs))
			tt.close("attention dq", tt.down(gdq, N*qs), dq, 1e-4)
			tt.close("attention dk", tt.down(gdk, N*ks), dk, 1e-4)
			tt.close("attention dv", tt.down(gdv, N*ks), dv, 1e-4)
		})
	}
}

// TestAttentionDecodeMatchesCPU: one decoding step's attention (the
// newest row's query against a KV cache of L rows) against
// nn.AttentionCached, over every head dim the kernels build, GQA and not,
// from one cached row to more than the block's threads, and with a cache
// longer than the rows in use (rows past L must be ignored: they hold NaN).
func TestAttentionDecodeMatchesCPU(t *testing.T) {
	tt := newTester(t)
	r := rand.New(rand.NewPCG(17, 18))
	for _, c := range []struct {
		name          string
		L, H, KVH, hd int
		capacity      int
	}{
		{"hd8 stories-shape", 37, 8, 4, 8, 40},
		{"hd16 one row", 1, 4, 2, 16, 1},
		{"hd32 mha", 70, 2, 2, 32, 70},
		{"hd64 gqa", 300, 8, 2, 64, 333},
		{"hd64 gqa 4:1", 1000, 16, 4, 64, 1000},
		{"hd128", 257, 4, 1, 128, 300},
	} {
		t.Run(c.name, func(t *testing.T) {
			tt := &tester{t: t, d: tt.d}
			defer func() {
				for _, b := range tt.bufs {
					tt.d.Free(b)
				}
			}()
			qs, ks := c.H*c.hd, c.KVH*c.hd
			q := randn(r, qs, 1)
			kc, vc := randn(r, c.capacity*ks, 1), randn(r, c.capacity*ks, 1)
			for i := c.L * ks; i < len(kc); i++ {
				kc[i], vc[i] = float32(math.NaN()), float32(math.NaN())
			}
			// The reference reads a cache holding q's row last; the
			// device its own (longer) one.
			want := make([]float32, qs)
			nn.AttentionCached(want, q, kc[:c.L*ks], vc[:c.L*ks], 1, c.L-1, c.H, c.KVH, c.hd)
			gout := tt.poison(qs)
			tt.ok(tt.d.AttentionDecode(gout, tt.poison(c.H*c.L), up(tt, q), up(tt, kc), up(tt, vc), c.L, c.H, c.KVH, c.hd))
			tt.close("decode attention out", tt.down(gout, qs), want, 1e-5)
		})
	}
	if err := tt.d.AttentionDecode(tt.poison(8), tt.poison(8), tt.poison(8), tt.poison(8), tt.poison(24), 3, 1, 1, 8); err == nil {
		t.Error("a key cache of 1 row was accepted for 3")
	}
}

func TestCrossEntropyMatchesCPU(t *testing.T) {
	tt := newTester(t)
	r := rand.New(rand.NewPCG(9, 10))
	n, dim, vocab := 70, 96, 5003
	x, w := randn(r, n*dim, 1), randn(r, vocab*dim, 0.2)
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(r.IntN(vocab))
		if i%7 == 3 {
			labels[i] = nn.IgnoreIndex
		}
	}
	dx, dw := make([]float32, n*dim), make([]float32, vocab*dim)
	sum, count := nn.CrossEntropy(dx, dw, x, w, labels, n, dim, vocab, 1/float32(60))
	gx, gw := up(tt, x), up(tt, w)
	lg, loss := tt.poison(n*vocab), tt.poison(n)
	tt.ok(tt.d.Gemm(false, true, n, vocab, dim, 1, gx, dim, gw, dim, 0, lg, vocab, false))
	tt.ok(tt.d.XentRows(lg, Buffer{}, loss, up(tt, labels), n, vocab, 1/float32(60), true))
	gdx, gdw := tt.poison(n*dim), up(tt, make([]float32, vocab*dim))
	tt.ok(tt.d.Gemm(false, false, n, dim, vocab, 1, lg, vocab, gw, dim, 0, gdx, dim, false))
	tt.ok(tt.d.Gemm(true, false, vocab, dim, n, 1, lg, vocab, gx, dim, 1, gdw, dim, false))
	l := tt.down(loss, n)
	var gsum float64
	gcount := 0
	for i, v := range l {
		if labels[i] != nn.IgnoreIndex {
			gsum += float64(v)
			gcount++
		} else if v != 0 {
			t.Errorf("ignored row %d has loss %g", i, v)
		}
	}
	if gcount != count || math.Abs(gsum-sum)/sum > 1e-6 {
		t.Errorf("loss sum %g over %d rows, CPU %g over %d", gsum, gcount, sum, count)
	}
	tt.close("cross-entropy dx", tt.down(gdx, n*dim), dx, 1e-5)
	tt.close("cross-entropy dw", tt.down(gdw, vocab*dim), dw, 1e-5)
}

func TestNF4DequantMatchesCPU(t *testing.T) {
	tt := newTester(t)
	r := rand.New(rand.NewPCG(11, 12))
	out, in := 300, 130 // 39000 weights: partial 64-blocks and 256-scale blocks
	w := randn(r, out*in, 0.05)
	for _, dq := range []bool{false, true} {
		q, err := nn.QuantizeNF4(w, out, in)
		tt.ok(err)
		if dq {
			q.DoubleQuantize()
		}
		blocks := (out*in + 63) / 64
		scales := tt.poison(blocks)
		if dq {
			tt.ok(tt.d.NF4Scales(scales, up(tt, q.AbsmaxQ), up(tt, q.Absmax2), up(tt, nn.DynamicMap8[:]), q.Offset, blocks))
		} else {
			scales = up(tt, q.Absmax)
		}
		codes := up(tt, q.Codes)
		g := tt.poison(out * in)
		tt.ok(tt.d.NF4Dequant(g, Buffer{}, codes, scales, out*in))
		got, want := tt.down(g, out*in), q.Float32()
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("double quant %v: element %d: device %g, CPU %g", dq, i, got[i], want[i])
			}
		}
		gb, err := tt.d.Alloc(int64(out*in) * 2)
		tt.ok(err)
		tt.bufs = append(tt.bufs, gb)
		tt.ok(tt.d.NF4Dequant(Buffer{}, gb, codes, scales, out*in))
		gotb := make([]uint16, out*in)
		tt.ok(Download(gotb, gb))
		wantb := make([]uint16, out*in)
		q.DequantizeBF16(wantb, 0, out*in)
		for i := range gotb {
			if gotb[i] != wantb[i] {
				t.Fatalf("bf16, double quant %v: element %d: device %#x, CPU %#x", dq, i, gotb[i], wantb[i])
			}
		}
	}
}

func TestOptimizerMatchesCPU(t *testing.T) {
	tt := newTester(t)
	r := rand.New(rand.NewPCG(13, 14))
	n := 70001
	p, g := randn(r, n, 1), randn(r, n, 3)
	m, v := make([]float32, n), make([]float32, n)
	gp, gg, gm, gv := up(tt, p), up(tt, g), up(tt, m), up(tt, v)
	// Global norm and clipping on the device.
	sumsq, norm, clip := up(tt, []float64{0}), tt.poison(1), tt.poison(1)
	tt.ok(tt.d.SumSqAcc(sumsq, gg, n))
	tt.ok(tt.d.ClipFactor(clip, norm, sumsq, 1))
	var s [1]float64
	tt.ok(Download(s[:], sumsq))
	want := nn.SumSquares(g)
	if math.Abs(s[0]-want)/want > 1e-12 {
		t.Errorf("sum of squares %g, CPU %g", s[0], want)
	}
	c := float32(1 / (math.Sqrt(want) + 1e-6))
	nn.Scale(g, c)
	opt := nn.DefaultAdamW()
	for step := 1; step <= 3; step++ {
		opt.Step(p, g, m, v, step, 1e-3)
		tt.ok(tt.d.AdamW(gp, gg, gm, gv, clip, n, opt.Beta1, opt.Beta2, opt.Eps, opt.WeightDecay, step, 1e-3))
	}
	tt.close("adamw params", tt.down(gp, n), p, 1e-6)
	tt.close("adamw first moment", tt.down(gm, n), m, 1e-6)
	tt.close("adamw second moment", tt.down(gv, n), v, 1e-6)
}

// TestDropoutMatchesCPUHash checks the device mask against the CPU
// engine's hash (model.linearFwd's splitmix).
func TestDropoutMatchesCPUHash(t *testing.T) {
	tt := newTester(t)
	r := rand.New(rand.NewPCG(15, 16))
	n, p, seed := 40000, float32(0.1), uint64(0xdeadbeef12345)
	x := randn(r, n, 1)
	gx, gxd := up(tt, x), tt.poison(n)
	tt.ok(tt.d.Dropout(gxd, gx, n, seed, p))
	got := tt.down(gxd, n)
	thr := uint64(float64(p) * (1 << 53))
	keep := 1 / (1 - p)
	dropped := 0
	for i := range x {
		want := x[i] * keep
		if splitmixRef(seed^uint64(i)*0x9e3779b97f4a7c15)>>11 < thr {
			want = 0
			dropped++
		}
		if got[i] != want {
			t.Fatalf("element %d: device %g, CPU %g", i, got[i], want)
		}
	}
	if dropped < n/20 || dropped > n/5 {
		t.Errorf("dropped %d of %d at p=0.1", dropped, n)
	}
}

func splitmixRef(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// TestAttentionBF16MatchesCPU runs the bf16 tensor-core attention
// (AttnBF16, WHET_CUDA_ATTN=bf16) forward and backward on attnBF16Cases
// (the inputs TestAttentionBF16HostModel draws) and compares it with
// nn.Attention within the bf16 tolerances stated in attn_bf16_model_test.go,
// and with the host model of the kernels' arithmetic within
// attnBF16ModelTol. A head dim without bf16 kernels (32) must fall back to
// the float32 kernels (TestAttentionMatchesCPU's bounds).
func TestAttentionBF16MatchesCPU(t *testing.T) {
	tt := newTester(t)
	prev := tt.d.AttnKernels()
	if err := tt.d.SetAttnKernels(AttnBF16); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tt.d.SetAttnKernels(prev) })
	r := rand.New(rand.NewPCG(9, 10))
	run := func(t *testing.T, c *attnCase, bf16 bool) {
		tt := &tester{t: t, d: tt.d}
		defer func() {
			for _, b := range tt.bufs {
				tt.d.Free(b)
			}
		}()
		s := c.s
		N, qs, ks := s.B*s.T, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
		gs := AttnShape{B: s.B, T: s.T, Heads: s.Heads, KVHeads: s.KVHeads, HeadDim: s.HeadDim}
		if s.SegStart != nil {
			gs.Seg = up(tt, s.SegStart)
		}
		gq, gk, gv := up(tt, c.q), up(tt, c.k), up(tt, c.v)
		gout, glse := tt.poison(N*qs), tt.poison(N*s.Heads)
		tt.ok(tt.d.Attention(gout, glse, gq, gk, gv, gs))
		gdq, gdk, gdv, scr := tt.poison(N*qs), tt.poison(N*ks), tt.poison(N*ks), tt.poison(N*s.Heads)
		tt.ok(tt.d.AttentionBackward(gdq, gdk, gdv, up(tt, c.dout), gq, gk, gv, gout, glse, scr, gs))
		got := [][]float32{tt.down(gout, N*qs), tt.down(glse, N*s.Heads), tt.down(gdq, N*qs), tt.down(gdk, N*ks), tt.down(gdv, N*ks)}
		names := []string{"out", "lse", "dq", "dk", "dv"}
		cpu := [][]float32{c.out, c.lse, c.dq, c.dk, c.dv}
		if !bf16 { // the bounds of TestAttentionMatchesCPU
			for i, tol := range []float64{1e-5, 1e-6, 1e-4, 1e-4, 1e-4} {
				tt.close("f32 fallback "+names[i], got[i], cpu[i], tol)
			}
			return
		}
		tols := []float64{attnBF16OutTol, attnBF16LseTol, attnBF16GradTol, attnBF16GradTol, attnBF16GradTol}
		for i := range names {
			tt.close("bf16 "+names[i]+" vs CPU f32", got[i], cpu[i], tols[i])
		}
		mout, mlse, mdq, mdk, mdv := c.model()
		for i, want := range [][]float32{mout, mlse, mdq, mdk, mdv} {
			tt.close("bf16 "+names[i]+" vs host model", got[i], want, attnBF16ModelTol)
		}
	}
	for _, tc := range attnBF16Cases {
		c := newAttnCase(r, tc.B, tc.T, tc.H, tc.KVH, tc.hd, tc.packed)
		t.Run(tc.name, func(t *testing.T) { run(t, c, true) })
	}
	c := newAttnCase(r, 2, 70, 4, 2, 32, true)
	t.Run("hd32 falls back to f32", func(t *testing.T) { run(t, c, false) })
}

func TestParseAttnKernels(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    AttnKernels
		wantErr bool
	}{
		{"", AttnF32, false}, {"f32", AttnF32, false}, {"bf16", AttnBF16, false}, {"BF16", "", true}, {"fp16", "", true},
	} {
		got, err := ParseAttnKernels(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseAttnKernels(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "WHET_CUDA_ATTN") {
			t.Errorf("ParseAttnKernels(%q): error %q does not name the variable", tc.in, err)
		}
	}
}

// TestOpenRejectsUnknownAttnKernels: a WHET_CUDA_ATTN typo is an error
// naming the variable, found before the driver is touched (so it runs
// without a GPU too), and not ErrUnavailable: it is a mistake in the
// configuration, not a missing GPU.
func TestOpenRejectsUnknownAttnKernels(t *testing.T) {
	e := SystemEnv()
	e.Getenv = func(k string) string {
		if k == AttnKernelsEnv {
			return "fp8"
		}
		return os.Getenv(k)
	}
	d, err := OpenEnv(0, e)
	if d != nil {
		t.Skip("a device is already open in this process (Open returns it without reading the environment again)")
	}
	if err == nil || !strings.Contains(err.Error(), `WHET_CUDA_ATTN="fp8"`) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("OpenEnv with WHET_CUDA_ATTN=fp8: %v; want an error naming the variable, not wrapping ErrUnavailable", err)
	}
}
