package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func randn(r *rand.Rand, n int, std float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * std)
	}
	return x
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// checkGrad compares an analytic gradient with central finite differences of
// loss() with respect to x, at a sample of coordinates.
func checkGrad(t *testing.T, name string, x []float32, grad []float32, loss func() float64) {
	t.Helper()
	const h = 1e-2
	r := rand.New(rand.NewPCG(7, uint64(len(x))))
	var maxErr float64
	for s := 0; s < min(len(x), 40); s++ {
		i := r.IntN(len(x))
		old := x[i]
		x[i] = old + h
		lp := loss()
		x[i] = old - h
		lm := loss()
		x[i] = old
		num := (lp - lm) / (2 * h)
		err := math.Abs(num-float64(grad[i])) / math.Max(1e-2, math.Abs(num)+math.Abs(float64(grad[i])))
		maxErr = max(maxErr, err)
		if err > 2e-2 {
			t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g", name, i, grad[i], num)
			return
		}
	}
	t.Logf("%s: max relative error %.2g", name, maxErr)
}

func TestLinearGrad(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	n, in, out := 5, 7, 3
	x, w, b := randn(r, n*in, 1), randn(r, out*in, 1), randn(r, out, 1)
	R := randn(r, n*out, 1)
	y := make([]float32, n*out)
	loss := func() float64 { Linear(y, x, w, b, n, in, out); return dot(y, R) }
	dx, dw, db := make([]float32, n*in), make([]float32, out*in), make([]float32, out)
	LinearBackward(dx, dw, db, R, x, w, n, in, out, false)
	checkGrad(t, "dx", x, dx, loss)
	checkGrad(t, "dw", w, dw, loss)
	checkGrad(t, "db", b, db, loss)
}

func TestRMSNormGrad(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 3))
	n, d := 4, 16
	x, w, R := randn(r, n*d, 1), randn(r, d, 1), randn(r, n*d, 1)
	y, rstd := make([]float32, n*d), make([]float32, n)
	loss := func() float64 { RMSNorm(y, rstd, x, w, n, d, 1e-5); return dot(y, R) }
	loss()
	dx, dw := make([]float32, n*d), make([]float32, d)
	RMSNormBackward(dx, dw, R, x, w, rstd, n, d, false)
	checkGrad(t, "dx", x, dx, loss)
	checkGrad(t, "dw", w, dw, loss)
}

func TestRopeGrad(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 4))
	n, heads, hd := 6, 2, 8
	rp := NewRope(hd, 16, InvFreq(hd, 10000, nil))
	pos := []int32{0, 1, 2, 9, 3, 15}
	x, R := randn(r, n*heads*hd, 1), randn(r, n*heads*hd, 1)
	y := make([]float32, len(x))
	loss := func() float64 { copy(y, x); rp.Apply(y, pos, n, heads, false); return dot(y, R) }
	dx := append([]float32(nil), R...)
	rp.Apply(dx, pos, n, heads, true)
	checkGrad(t, "dx", x, dx, loss)
}

func TestSwiGLUGrad(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 5))
	n := 50
	g, u, R := randn(r, n, 2), randn(r, n, 1), randn(r, n, 1)
	y := make([]float32, n)
	loss := func() float64 { SwiGLU(y, g, u); return dot(y, R) }
	dg, du := make([]float32, n), make([]float32, n)
	SwiGLUBackward(dg, du, R, g, u)
	checkGrad(t, "dgate", g, dg, loss)
	checkGrad(t, "dup", u, du, loss)
	sig, y2, dg2, du2 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	SwiGLU(y, g, u)
	SwiGLUSaved(y2, sig, g, u)
	SwiGLUBackwardSaved(dg2, du2, R, g, u, sig)
	for i := range y {
		if math.Abs(float64(y2[i]-y[i])) > 1e-6 || math.Abs(float64(dg2[i]-dg[i])) > 1e-6 || math.Abs(float64(du2[i]-du[i])) > 1e-6 {
			t.Fatalf("saved-sigmoid variant differs at %d", i)
		}
	}
}

// naiveAttention is the textbook O(T²) reference.
func naiveAttention(q, k, v []float32, s AttnShape) []float32 {
	hd, qs, ks := s.HeadDim, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	out := make([]float32, s.B*s.T*qs)
	for b := 0; b < s.B; b++ {
		for h := 0; h < s.Heads; h++ {
			g := h / (s.Heads / s.KVHeads)
			for t := 0; t < s.T; t++ {
				lo := s.segStart(b, t)
				sc := make([]float64, t+1)
				mx := math.Inf(-1)
				for j := lo; j <= t; j++ {
					var d float64
					for i := 0; i < hd; i++ {
						d += float64(q[(b*s.T+t)*qs+h*hd+i]) * float64(k[(b*s.T+j)*ks+g*hd+i])
					}
					sc[j] = d / math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[j])
				}
				var sum float64
				for j := lo; j <= t; j++ {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for i := 0; i < hd; i++ {
					var o float64
					for j := lo; j <= t; j++ {
						o += sc[j] / sum * float64(v[(b*s.T+j)*ks+g*hd+i])
					}
					out[(b*s.T+t)*qs+h*hd+i] = float32(o)
				}
			}
		}
	}
	return out
}

func TestAttention(t *testing.T) {
	t.Parallel()
	seg := func(B, T int, starts ...int) []int32 {
		s := make([]int32, B*T)
		for b := 0; b < B; b++ {
			cur := 0
			for tt := 0; tt < T; tt++ {
				for _, st := range starts {
					if tt == st {
						cur = st
					}
				}
				s[b*T+tt] = int32(cur)
			}
		}
		return s
	}
	for _, tc := range []AttnShape{
		{B: 1, T: 5, Heads: 2, KVHeads: 2, HeadDim: 4},
		{B: 2, T: 70, Heads: 4, KVHeads: 2, HeadDim: 8},
		{B: 2, T: 130, Heads: 3, KVHeads: 1, HeadDim: 4, SegStart: seg(2, 130, 40, 66, 100)},
	} {
		t.Run(fmt.Sprintf("B%dT%dH%dKV%d", tc.B, tc.T, tc.Heads, tc.KVHeads), func(t *testing.T) {
			r := rand.New(rand.NewPCG(2, uint64(tc.T)))
			nq, nk := tc.B*tc.T*tc.Heads*tc.HeadDim, tc.B*tc.T*tc.KVHeads*tc.HeadDim
			q, k, v := randn(r, nq, 1), randn(r, nk, 1), randn(r, nk, 1)
			out, lse := make([]float32, nq), make([]float32, tc.B*tc.T*tc.Heads)
			Attention(out, lse, q, k, v, tc)
			want := naiveAttention(q, k, v, tc)
			for i := range want {
				if math.Abs(float64(want[i]-out[i])) > 1e-5 {
					t.Fatalf("out[%d] = %g, want %g", i, out[i], want[i])
				}
			}
			R := randn(r, nq, 1)
			dq, dk, dv := make([]float32, nq), make([]float32, nk), make([]float32, nk)
			AttentionBackward(dq, dk, dv, R, q, k, v, out, lse, tc)
			o2 := make([]float32, nq)
			loss := func() float64 { Attention(o2, nil, q, k, v, tc); return dot(o2, R) }
			checkGrad(t, "dq", q, dq, loss)
			checkGrad(t, "dk", k, dk, loss)
			checkGrad(t, "dv", v, dv, loss)
		})
	}
}

func TestCrossEntropy(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 3))
	n, d, V := 150, 8, 11
	x, w := randn(r, n*d, 1), randn(r, V*d, 1)
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(r.IntN(V))
		if i%7 == 0 || (i >= 64 && i < 128) {
			labels[i] = IgnoreIndex
		}
	}
	// Reference: full logits, log-softmax.
	var want float64
	cnt := 0
	for i := 0; i < n; i++ {
		if labels[i] == IgnoreIndex {
			continue
		}
		lg := make([]float64, V)
		mx := math.Inf(-1)
		for j := 0; j < V; j++ {
			lg[j] = dot(x[i*d:(i+1)*d], w[j*d:(j+1)*d])
			mx = math.Max(mx, lg[j])
		}
		var s float64
		for _, v := range lg {
			s += math.Exp(v - mx)
		}
		want += mx + math.Log(s) - lg[labels[i]]
		cnt++
	}
	dx, dw := make([]float32, n*d), make([]float32, V*d)
	sum, c := CrossEntropy(dx, dw, x, w, labels, n, d, V, 1)
	if c != cnt || math.Abs(sum-want) > 1e-3 {
		t.Fatalf("loss %g over %d rows, want %g over %d", sum, c, want, cnt)
	}
	loss := func() float64 { s, _ := CrossEntropy(nil, nil, x, w, labels, n, d, V, 1); return s }
	checkGrad(t, "dx", x, dx, loss)
	checkGrad(t, "dw", w, dw, loss)
}

func TestEmbeddingGrad(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(4, 4))
	V, d := 6, 4
	ids := []int32{1, 3, 1, 5}
	tab, R := randn(r, V*d, 1), randn(r, len(ids)*d, 1)
	y := make([]float32, len(ids)*d)
	loss := func() float64 { Embedding(y, tab, ids, d); return dot(y, R) }
	dt := make([]float32, V*d)
	EmbeddingBackward(dt, R, ids, d)
	checkGrad(t, "dtable", tab, dt, loss)
}

func TestAdamWMatchesTorch(t *testing.T) {
	t.Parallel()
	// torch.optim.AdamW(lr=0.1, weight_decay=0.01), p=[1,-2], grads [0.5,0.25] then [-1, 2]:
	// values computed by hand from the torch algorithm (decay, then Adam).
	p := []float32{1, -2}
	m, v := make([]float32, 2), make([]float32, 2)
	o := DefaultAdamW()
	o.Step(p, []float32{0.5, 0.25}, m, v, 1, 0.1)
	// step 1: bias-corrected m̂ = g, v̂ = g², so update = lr·sign(g) (eps negligible).
	want := []float64{1*(1-0.001) - 0.1, -2*(1-0.001) - 0.1}
	for i := range p {
		if math.Abs(float64(p[i])-want[i]) > 1e-6 {
			t.Fatalf("p[%d] = %.7f, want %.7f", i, p[i], want[i])
		}
	}
}

func TestExp32(t *testing.T) {
	t.Parallel()
	var worst float64
	for x := float32(-86.9); x < 87.9; x += 0.0137 {
		want := math.Exp(float64(x))
		got := float64(exp32(x))
		worst = max(worst, math.Abs(got-want)/want)
	}
	if worst > 3e-7 {
		t.Fatalf("exp32 relative error %.3g", worst)
	}
	if exp32(-100) != 0 || !math.IsInf(float64(exp32(100)), 1) {
		t.Fatal("exp32 range ends wrong")
	}
}
