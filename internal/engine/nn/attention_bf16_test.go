package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/whetstone/whetstone/internal/engine/blas"
)

// roundedBF16 returns x rounded to bfloat16 values (nearest even).
func roundedBF16(x []float32) []float32 {
	y := append([]float32(nil), x...)
	blas.RoundBF16(y)
	return y
}

// autocastAttention is the float64 model of attention under bf16 autocast:
// q, k, v rounded to bf16, exact scores and softmax, the probabilities
// rounded to bf16 before the product with v.
func autocastAttention(q, k, v []float32, s AttnShape) []float32 {
	q, k, v = roundedBF16(q), roundedBF16(k), roundedBF16(v)
	hd, qs, ks := s.HeadDim, s.Heads*s.HeadDim, s.KVHeads*s.HeadDim
	out := make([]float32, s.B*s.T*qs)
	for b := 0; b < s.B; b++ {
		for h := 0; h < s.Heads; h++ {
			g := h / (s.Heads / s.KVHeads)
			for t := 0; t < s.T; t++ {
				lo := s.segStart(b, t)
				p := make([]float64, t+1)
				mx := math.Inf(-1)
				for j := lo; j <= t; j++ {
					var d float64
					for i := 0; i < hd; i++ {
						d += float64(q[(b*s.T+t)*qs+h*hd+i]) * float64(k[(b*s.T+j)*ks+g*hd+i])
					}
					p[j] = d / math.Sqrt(float64(hd))
					mx = math.Max(mx, p[j])
				}
				var sum float64
				for j := lo; j <= t; j++ {
					p[j] = math.Exp(p[j] - mx)
					sum += p[j]
				}
				for j := lo; j <= t; j++ {
					pr := []float32{float32(p[j] / sum)}
					blas.RoundBF16(pr)
					p[j] = float64(pr[0])
				}
				for i := 0; i < hd; i++ {
					var o float64
					for j := lo; j <= t; j++ {
						o += p[j] * float64(v[(b*s.T+j)*ks+g*hd+i])
					}
					out[(b*s.T+t)*qs+h*hd+i] = float32(o)
				}
			}
		}
	}
	return out
}

// TestAttentionBF16 checks bf16 attention against the float64 model of
// autocast attention (forward), and against the float32 kernel on the
// bf16-rounded inputs (backward, whose bf16 roundings of P, dS and dO the
// bound covers), over packed, fused (Ld) and segmented shapes.
func TestAttentionBF16(t *testing.T) {
	t.Parallel()
	seg := make([]int32, 2*150)
	for i := range seg {
		if tt := i % 150; tt >= 90 {
			seg[i] = 90
		}
	}
	for _, tc := range []AttnShape{
		{B: 1, T: 5, Heads: 2, KVHeads: 2, HeadDim: 8},
		{B: 2, T: 70, Heads: 4, KVHeads: 2, HeadDim: 16},
		{B: 2, T: 150, Heads: 3, KVHeads: 1, HeadDim: 32, SegStart: seg},
		{B: 1, T: 200, Heads: 6, KVHeads: 2, HeadDim: 64, Ld: 6*64 + 2*2*64},
	} {
		t.Run(fmt.Sprintf("B%dT%dH%dKV%dD%dLd%d", tc.B, tc.T, tc.Heads, tc.KVHeads, tc.HeadDim, tc.Ld), func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(tc.T)))
			N, qs, ks := tc.B*tc.T, tc.Heads*tc.HeadDim, tc.KVHeads*tc.HeadDim
			ql, kl := tc.lds()
			// q, k, v as the views Attention gets (columns of one fused
			// buffer when Ld is set), and packed copies for the references.
			var q, k, v []float32
			if tc.Ld > 0 {
				qkv := randn(r, N*tc.Ld, 1.5)
				q, k, v = qkv, qkv[qs:], qkv[qs+ks:]
			} else {
				q, k, v = randn(r, N*qs, 1.5), randn(r, N*ks, 1.5), randn(r, N*ks, 1)
			}
			pack := func(x []float32, w, ld int) []float32 {
				y := make([]float32, N*w)
				for i := 0; i < N; i++ {
					copy(y[i*w:(i+1)*w], x[i*ld:i*ld+w])
				}
				return y
			}
			pq, pk, pv := pack(q, qs, ql), pack(k, ks, kl), pack(v, ks, kl)
			packed := tc
			packed.Ld, packed.BF16 = 0, false

			bf := tc
			bf.BF16 = true
			out, lse := make([]float32, N*qs), make([]float32, N*tc.Heads)
			Attention(out, lse, q, k, v, bf)
			want := autocastAttention(pq, pk, pv, packed)
			f32 := make([]float32, N*qs)
			Attention(f32, nil, pq, pk, pv, packed)
			var worst, offF32 float64
			for i := range want {
				worst = max(worst, math.Abs(float64(out[i]-want[i])))
				offF32 = max(offF32, math.Abs(float64(out[i]-f32[i])))
			}
			// The model rounds exact probabilities; the kernel rounds float32
			// ones, so a probability may land on the neighbouring bf16 value
			// (2⁻⁸ relative) now and then.
			if worst > 2e-3 {
				t.Fatalf("out differs from the autocast model by %.3g", worst)
			}
			t.Logf("out: %.3g off the autocast model, %.3g off float32", worst, offF32)
			if offF32 == 0 {
				t.Fatal("bf16 attention gave exactly the float32 result: its products did not run in bf16")
			}

			// Backward against float32 on the rounded inputs.
			R := randn(r, N*qs, 1)
			var dq, dk, dv []float32
			if tc.Ld > 0 {
				d := make([]float32, N*tc.Ld)
				dq, dk, dv = d, d[qs:], d[qs+ks:]
			} else {
				dq, dk, dv = make([]float32, N*qs), make([]float32, N*ks), make([]float32, N*ks)
			}
			AttentionBackward(dq, dk, dv, R, q, k, v, out, lse, bf)
			rq, rk, rv := roundedBF16(pq), roundedBF16(pk), roundedBF16(pv)
			rOut, rLse := make([]float32, N*qs), make([]float32, N*tc.Heads)
			Attention(rOut, rLse, rq, rk, rv, packed)
			wq, wk, wv := make([]float32, N*qs), make([]float32, N*ks), make([]float32, N*ks)
			AttentionBackward(wq, wk, wv, R, rq, rk, rv, rOut, rLse, packed)
			for _, c := range []struct {
				name      string
				got, want []float32
				w, ld     int
			}{{"dq", dq, wq, qs, ql}, {"dk", dk, wk, ks, kl}, {"dv", dv, wv, ks, kl}} {
				got := pack(c.got, c.w, c.ld)
				var diff, scale float64
				for i := range got {
					diff = max(diff, math.Abs(float64(got[i]-c.want[i])))
					scale = max(scale, math.Abs(float64(c.want[i])))
				}
				t.Logf("%s: %.3g off float32 on bf16 inputs (largest %.3g)", c.name, diff, scale)
				if diff > 2e-2*scale {
					t.Errorf("%s differs from float32 on bf16 inputs by %.3g (largest %.3g)", c.name, diff, scale)
				}
			}
		})
	}
}
