package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func BenchmarkAttention(b *testing.B) {
	for _, s := range []AttnShape{
		{B: 1, T: 256, Heads: 9, KVHeads: 3, HeadDim: 64},
		{B: 1, T: 1024, Heads: 8, KVHeads: 2, HeadDim: 64},
		{B: 1, T: 256, Heads: 9, KVHeads: 3, HeadDim: 64, BF16: true},
		{B: 1, T: 1024, Heads: 8, KVHeads: 2, HeadDim: 64, BF16: true},
	} {
		prec := "f32"
		if s.BF16 {
			prec = "bf16"
		}
		b.Run(fmt.Sprintf("T%d/H%d/%s", s.T, s.Heads, prec), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			nq, nk := s.B*s.T*s.Heads*s.HeadDim, s.B*s.T*s.KVHeads*s.HeadDim
			q, k, v := randn(r, nq, 1), randn(r, nk, 1), randn(r, nk, 1)
			out, lse := make([]float32, nq), make([]float32, s.B*s.T*s.Heads)
			dq, dk, dv := make([]float32, nq), make([]float32, nk), make([]float32, nk)
			b.ReportAllocs()
			for b.Loop() {
				Attention(out, lse, q, k, v, s)
				AttentionBackward(dq, dk, dv, out, q, k, v, out, lse, s)
			}
		})
	}
}

func BenchmarkCrossEntropy(b *testing.B) {
	for _, vocab := range []int{512, 49152} {
		b.Run(fmt.Sprintf("V%d", vocab), func(b *testing.B) {
			const n, d = 128, 64
			r := rand.New(rand.NewPCG(1, 2))
			x, w := randn(r, n*d, 1), randn(r, vocab*d, 0.1)
			labels := make([]int32, n)
			for i := range labels {
				labels[i] = int32(r.IntN(vocab))
			}
			dx := make([]float32, n*d)
			b.ReportAllocs()
			b.SetBytes(int64(n * vocab * 4))
			for b.Loop() {
				CrossEntropy(dx, nil, x, w, labels, n, d, vocab, 1.0/n)
			}
		})
	}
}

func BenchmarkSwiGLU(b *testing.B) {
	const n = 1 << 18
	r := rand.New(rand.NewPCG(1, 3))
	g, u := randn(r, n, 1), randn(r, n, 1)
	out, dg, du := make([]float32, n), make([]float32, n), make([]float32, n)
	b.SetBytes(n * 4)
	b.ReportAllocs()
	for b.Loop() {
		SwiGLU(out, g, u)
		SwiGLUBackward(dg, du, out, g, u)
	}
}

// BenchmarkRMSNorm is the forward and backward of one SmolLM2-135M norm on
// 1024 tokens.
func BenchmarkRMSNorm(b *testing.B) {
	const n, d = 1024, 576
	r := rand.New(rand.NewPCG(1, 4))
	x, w, dy := randn(r, n*d, 1), randn(r, d, 1), randn(r, n*d, 1)
	out, dx, rstd := make([]float32, n*d), make([]float32, n*d), make([]float32, n)
	b.SetBytes(n * d * 4)
	b.ReportAllocs()
	for b.Loop() {
		RMSNorm(out, rstd, x, w, n, d, 1e-5)
		RMSNormBackward(dx, nil, dy, x, w, rstd, n, d, false)
	}
}

// BenchmarkSwiGLUSaved is the training pass' SwiGLU forward and backward
// (saved sigmoid) on SmolLM2-135M's MLP for 1024 tokens, on separate gate
// and up buffers and on a fused [n, 2I] gate/up buffer.
func BenchmarkSwiGLUSaved(b *testing.B) {
	const n, inter = 1024, 1536
	r := rand.New(rand.NewPCG(1, 5))
	gu, dA := randn(r, 2*n*inter, 1), randn(r, n*inter, 1)
	act, sig, dgu := make([]float32, n*inter), make([]float32, n*inter), make([]float32, 2*n*inter)
	b.Run("separate", func(b *testing.B) {
		b.SetBytes(n * inter * 4)
		for b.Loop() {
			SwiGLUSaved(act, sig, gu[:n*inter], gu[n*inter:])
			SwiGLUBackwardSaved(dgu[:n*inter], dgu[n*inter:], dA, gu[:n*inter], gu[n*inter:], sig)
		}
	})
	b.Run("fused", func(b *testing.B) {
		b.SetBytes(n * inter * 4)
		for b.Loop() {
			SwiGLUFused(act, sig, gu, n, inter)
			SwiGLUBackwardFused(dgu, dA, gu, sig, n, inter)
		}
	})
}
