package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randVec(rng *rand.Rand, n int, scale float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = (rng.Float32()*2 - 1) * scale
	}
	return s
}

// Lengths cover the unrolled loop's remainders and the parallel path.
var lengths = []int{0, 1, 3, 4, 7, 100, parallelMin + 5, 3 * parallelMin}

func TestLevel1(t *testing.T) {
	t.Parallel()
	for _, n := range lengths {
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		x, y := randVec(rng, n, 1), randVec(rng, n, 1)
		var dot, sum, absSum float64
		for i := range x {
			dot += float64(x[i]) * float64(y[i])
			sum += float64(x[i])
			absSum += math.Abs(float64(x[i]))
		}
		tol := 1e-6 * (float64(n) + 1)
		if got := Dot(x, y); math.Abs(float64(got)-dot) > tol {
			t.Errorf("n=%d: Dot = %v, want %v", n, got, dot)
		}
		if got := Sum(x); math.Abs(float64(got)-sum) > tol {
			t.Errorf("n=%d: Sum = %v, want %v", n, got, sum)
		}
		check := func(name string, got []float32, want func(i int) float32) {
			t.Helper()
			for i := range got {
				if w := want(i); got[i] != w {
					t.Fatalf("n=%d: %s[%d] = %v, want %v", n, name, i, got[i], w)
				}
			}
		}
		yy := append([]float32(nil), y...)
		Axpy(0.5, x, yy)
		check("Axpy", yy, func(i int) float32 { return y[i] + 0.5*x[i] })
		xx := append([]float32(nil), x...)
		Scale(-3, xx)
		check("Scale", xx, func(i int) float32 { return -3 * x[i] })
		d := make([]float32, n)
		Add(d, x, y)
		check("Add", d, func(i int) float32 { return x[i] + y[i] })
		Mul(d, x, y)
		check("Mul", d, func(i int) float32 { return x[i] * y[i] })
	}
}

func TestExp32(t *testing.T) {
	t.Parallel()
	worst := 0.0
	for x := float32(-87.3); x < 88.7; x += 0.0137 {
		want := math.Exp(float64(x))
		got := float64(Exp32(x))
		if rel := math.Abs(got-want) / want; rel > worst {
			worst = rel
		}
	}
	if worst > 2e-7 {
		t.Errorf("Exp32 worst relative error %g > 2e-7", worst)
	}
	// The slice version must agree with Exp32 everywhere, special cases too.
	var xs []float32
	for x := float32(-110); x < 95; x += 0.173 {
		xs = append(xs, x)
	}
	xs = append(xs, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 88, 88.7, -87.33654)
	got := make([]float32, len(xs))
	Exp(got, xs)
	for i, x := range xs {
		if want := Exp32(x); got[i] != want && !(want != want && got[i] != got[i]) {
			t.Errorf("Exp(%v) = %v, Exp32 = %v", x, got[i], want)
		}
	}
	tests := []struct {
		x, want float32
	}{
		{0, 1},
		{float32(math.Inf(1)), float32(math.Inf(1))},
		{89, float32(math.Inf(1))},
		{float32(math.Inf(-1)), 0},
		{-200, 0},
		{88.72283, float32(math.Exp(float64(float32(88.72283))))},
		{-100, float32(math.Exp(-100))},
		{-87.5, float32(math.Exp(-87.5))},
	}
	for _, tc := range tests {
		if got := Exp32(tc.x); got != tc.want && math.Abs(float64(got-tc.want)) > 2e-7*float64(tc.want) {
			t.Errorf("Exp32(%v) = %v, want %v", tc.x, got, tc.want)
		}
	}
	if got := Exp32(float32(math.NaN())); got == got {
		t.Errorf("Exp32(NaN) = %v", got)
	}
}

func TestSiLU(t *testing.T) {
	t.Parallel()
	x := []float32{-100, -5, -1, 0, 0.5, 3, 50}
	got := make([]float32, len(x))
	SiLU(got, x)
	for i, v := range x {
		want := float64(v) / (1 + math.Exp(-float64(v)))
		if math.Abs(float64(got[i])-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("SiLU(%v) = %v, want %v", v, got[i], want)
		}
	}
}

func TestSoftmaxRows(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	const rows, cols = 37, 300
	x := randVec(rng, rows*cols, 20)
	inf := float32(math.Inf(-1))
	for j := range cols { // row 1 fully masked, row 2 half masked
		x[cols+j] = inf
		if j%2 == 0 {
			x[2*cols+j] = inf
		}
	}
	got := append([]float32(nil), x...)
	SoftmaxRows(got, rows, cols)
	for r := range rows {
		row := x[r*cols : (r+1)*cols]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		for j, v := range row {
			want := math.Exp(float64(v)-m) / s
			if r == 1 {
				want = 0
			}
			if g := float64(got[r*cols+j]); math.Abs(g-want) > 1e-6*want+1e-9 {
				t.Fatalf("row %d col %d: %v, want %v", r, j, g, want)
			}
		}
		if r != 1 {
			if lse, want := LogSumExp(row), m+math.Log(s); math.Abs(float64(lse)-want) > 1e-5*math.Abs(want)+1e-6 {
				t.Errorf("row %d: LogSumExp = %v, want %v", r, lse, want)
			}
		}
	}
}

func BenchmarkExp(b *testing.B) {
	x := randVec(rand.New(rand.NewPCG(1, 1)), 1<<20, 10)
	d := make([]float32, len(x))
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		Exp(d, x)
	}
}

func BenchmarkSoftmaxRows(b *testing.B) {
	// Attention scores: 9 heads × 256 queries × 256 keys, batch 4.
	const rows, cols = 9 * 256 * 4, 256
	x := randVec(rand.New(rand.NewPCG(1, 1)), rows*cols, 10)
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		SoftmaxRows(x, rows, cols)
	}
}

func BenchmarkAxpy(b *testing.B) {
	x := randVec(rand.New(rand.NewPCG(1, 1)), 1<<20, 1)
	y := make([]float32, len(x))
	b.SetBytes(int64(8 * len(x)))
	for b.Loop() {
		Axpy(0.5, x, y)
	}
}

func BenchmarkDot(b *testing.B) {
	x := randVec(rand.New(rand.NewPCG(1, 1)), 1<<16, 1)
	b.SetBytes(int64(8 * len(x)))
	for b.Loop() {
		Dot(x, x)
	}
}

// TestNativeMatchesGo checks that the C loops (cgo builds) give bit-for-bit
// the values of the Go loops (pure-Go builds), on ordinary values, every
// special range and in place.
func TestNativeMatchesGo(t *testing.T) {
	if !native {
		t.Skip("pure-Go build: no C loops")
	}
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 7))
	var x []float32
	for range 5000 {
		x = append(x, (rng.Float32()*2-1)*30)
	}
	for v := float32(-110); v < 95; v += 0.0731 {
		x = append(x, v)
	}
	inf := float32(math.Inf(1))
	x = append(x, 0, float32(math.Copysign(0, -1)), float32(math.NaN()), inf, -inf, 88, 88.0001, 88.7228, -87.33654, -87.3366, -103.97, -104)
	n := len(x)
	g, u, dy := x, randVec(rng, n, 3), randVec(rng, n, 2)
	same := func(name string, got, want []float32) {
		t.Helper()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
				t.Fatalf("%s(%v): C %v (%#x), Go %v (%#x)", name, x[i], got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
	c, w := make([]float32, n), make([]float32, n)
	expNative(c, x)
	expGo(w, x)
	same("exp", c, w)
	sigmoidNative(c, x)
	sigmoidGo(w, x)
	same("sigmoid", c, w)
	siluNative(c, x)
	siluGo(w, x)
	same("silu", c, w)
	siluMulNative(c, g, u)
	siluMulGo(w, g, u)
	same("silumul", c, w)
	c2, w2 := make([]float32, n), make([]float32, n)
	swigluBackwardNative(c, c2, dy, g, u)
	swigluBackwardGo(w, w2, dy, g, u)
	same("swiglu dg", c, w)
	same("swiglu du", c2, w2)
	c3, w3 := make([]float32, n), make([]float32, n)
	swigluSavedNative(c, c3, g, u)
	swigluSavedGo(w, w3, g, u)
	same("swiglu saved out", c, w)
	same("swiglu saved sigmoid", c3, w3)
	swigluBackwardSavedNative(c, c2, dy, g, u, w3)
	swigluBackwardSavedGo(w, w2, dy, g, u, w3)
	same("swiglu saved dg", c, w)
	same("swiglu saved du", c2, w2)
	// RMSNorm rows (d = 61: the 8-wide blocks and a tail), both ways.
	const d = 61
	rows := len(g) / d
	nw := randVec(rng, d, 1)
	rc, rw := make([]float32, rows), make([]float32, rows)
	rmsnormNative(c, rc, g, nw, rows, d, 1e-5)
	rmsnormGo(w, rw, g, nw, rows, d, 1e-5)
	same("rmsnorm out", c[:rows*d], w[:rows*d])
	same("rmsnorm rstd", rc, rw)
	for _, acc := range []bool{false, true} {
		copy(c2, u)
		copy(w2, u)
		rmsnormBackwardNative(c2, dy, g, nw, rw, rows, d, acc)
		rmsnormBackwardGo(w2, dy, g, nw, rw, rows, d, acc)
		same("rmsnorm backward", c2[:rows*d], w2[:rows*d])
	}
	// In place.
	inPlace := append([]float32(nil), x...)
	Exp(inPlace, inPlace)
	expGo(w, x)
	same("exp in place", inPlace, w)
}

func TestSwiGLU(t *testing.T) {
	t.Parallel()
	// Against float64 formulas and a central finite difference of
	// y = SiLU(g)·u.
	g := []float32{-20, -3, -0.7, 0, 0.4, 2.5, 15}
	u := []float32{1.5, -2, 0.3, 1, -1, 0.25, 2}
	dy := []float32{0.5, 1, -1, 2, 0.1, -0.3, 1}
	y := make([]float32, len(g))
	SiLUMul(y, g, u)
	dg, du := make([]float32, len(g)), make([]float32, len(g))
	SwiGLUBackward(dg, du, dy, g, u)
	// The saved-sigmoid pair computes the same.
	y2, sig, dg2, du2 := make([]float32, len(g)), make([]float32, len(g)), make([]float32, len(g)), make([]float32, len(g))
	SwiGLUSavedSerial(y2, sig, g, u)
	SwiGLUBackwardSavedSerial(dg2, du2, dy, g, u, sig)
	for i := range g {
		if d := math.Abs(float64(y2[i] - y[i])); d > 1e-6*math.Max(1, math.Abs(float64(y[i]))) {
			t.Errorf("SwiGLUSavedSerial at g=%v: %v, SiLUMul %v", g[i], y2[i], y[i])
		}
		if d := math.Abs(float64(dg2[i] - dg[i])); d > 1e-6*math.Max(1, math.Abs(float64(dg[i]))) {
			t.Errorf("SwiGLUBackwardSavedSerial dg at g=%v: %v, SwiGLUBackward %v", g[i], dg2[i], dg[i])
		}
		if d := math.Abs(float64(du2[i] - du[i])); d > 1e-6*math.Max(1, math.Abs(float64(du[i]))) {
			t.Errorf("SwiGLUBackwardSavedSerial du at g=%v: %v, SwiGLUBackward %v", g[i], du2[i], du[i])
		}
	}
	silu := func(v float64) float64 { return v / (1 + math.Exp(-v)) }
	for i := range g {
		gv, uv, dv := float64(g[i]), float64(u[i]), float64(dy[i])
		if want := silu(gv) * uv; math.Abs(float64(y[i])-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("SiLUMul(%v, %v) = %v, want %v", gv, uv, y[i], want)
		}
		if want := dv * silu(gv); math.Abs(float64(du[i])-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("du at g=%v: %v, want %v", gv, du[i], want)
		}
		const h = 1e-6
		want := dv * uv * (silu(gv+h) - silu(gv-h)) / (2 * h)
		if math.Abs(float64(dg[i])-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("dg at g=%v: %v, want %v", gv, dg[i], want)
		}
	}
}

// TestAttentionRowsNativeMatchesGo checks the attention row kernels: C and
// Go give the same bits (lengths around the 8-wide partial sums and the
// 512-element blocks, rows with entries far below the max whose exp leaves
// the fast range), and the values are the exponentials and their sum.
func TestAttentionRowsNativeMatchesGo(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 8))
	for _, n := range []int{1, 7, 8, 9, 64, 255, 511, 512, 513, 1500} {
		for _, spread := range []float32{1, 40, 200} {
			x := randVec(rng, n, spread)
			if n > 3 {
				x[n/2] = x[n/3] - 150 // far below: slow path
			}
			// softmax
			c, g := append([]float32(nil), x...), append([]float32(nil), x...)
			var cm float32
			var cs float64
			if native {
				cm, cs = expSumNative(c)
			} else {
				cm, cs = expSumGo(c)
			}
			gm, gs := expSumGo(g)
			if cm != gm || cs != gs {
				t.Fatalf("n=%d spread=%g: max/sum C %v/%v, Go %v/%v", n, spread, cm, cs, gm, gs)
			}
			var total float64
			for i := range g {
				if math.Float32bits(c[i]) != math.Float32bits(g[i]) {
					t.Fatalf("n=%d spread=%g: softmax[%d] C %v, Go %v", n, spread, i, c[i], g[i])
				}
				total += float64(g[i])
				want := math.Exp(float64(x[i] - gm))
				if math.Abs(float64(g[i])-want) > 1e-6*want+1e-30 {
					t.Fatalf("n=%d: exp[%d] = %v, want %v", n, i, g[i], want)
				}
			}
			if math.Abs(total-gs) > 1e-9*gs {
				t.Fatalf("n=%d spread=%g: sum %v, the exps add up to %v", n, spread, gs, total)
			}
			// prob grad
			l := gm + float32(math.Log(gs))
			dp := randVec(rng, n, 2)
			cs2, gs2 := append([]float32(nil), x...), append([]float32(nil), x...)
			cd, gd := append([]float32(nil), dp...), append([]float32(nil), dp...)
			ProbGrad(cs2, cd, l, 0.37)
			probGradGo(gs2, gd, l, 0.37)
			for i := range gs2 {
				if math.Float32bits(cs2[i]) != math.Float32bits(gs2[i]) || math.Float32bits(cd[i]) != math.Float32bits(gd[i]) {
					t.Fatalf("n=%d spread=%g: prob grad[%d] C %v/%v, Go %v/%v", n, spread, i, cs2[i], cd[i], gs2[i], gd[i])
				}
				if p := math.Exp(float64(x[i]) - float64(l)); math.Abs(float64(gs2[i])-p) > 1e-6 {
					t.Fatalf("n=%d: p[%d] = %v, want %v", n, i, gs2[i], p)
				}
			}
		}
	}
}
