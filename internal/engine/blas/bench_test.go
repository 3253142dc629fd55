package blas

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShape is one matmul of the engine at T = 1024 tokens (seq 256 ×
// batch 4) for the SmolLM2-135M shape (hidden 576, KV 192, MLP 1536, vocab
// 49152).
type benchShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// BenchShapes are the forward (Y = X·Wᵀ, weights stored out×in as in
// PyTorch), input-gradient (dX = dY·W) and weight-gradient (dW = dYᵀ·X)
// products of the engine's linear layers.
var benchShapes = []benchShape{
	{"fwd_q_1024x576x576", false, true, 1024, 576, 576},
	{"fwd_kv_1024x192x576", false, true, 1024, 192, 576},
	{"fwd_up_1024x1536x576", false, true, 1024, 1536, 576},
	{"fwd_down_1024x576x1536", false, true, 1024, 576, 1536},
	{"fwd_lmhead_1024x49152x576", false, true, 1024, 49152, 576},
	{"dx_up_1024x576x1536", false, false, 1024, 576, 1536},
	{"dx_lmhead_1024x576x49152", false, false, 1024, 576, 49152},
	{"dw_up_1536x576x1024", true, false, 1536, 576, 1024},
	{"dw_down_576x1536x1024", true, false, 576, 1536, 1024},
	{"dw_q_576x576x1024", true, false, 576, 576, 1024},
}

type gemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

func benchGemm(b *testing.B, gemm gemmFunc, s benchShape) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := randSlice(rng, s.m*s.k)
	bb := randSlice(rng, s.k*s.n)
	c := make([]float32, s.m*s.n)
	lda, ldb := s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	b.ReportAllocs()
	for b.Loop() {
		gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
	}
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(fmt.Sprintf("%s/%s", Name(), s.name), func(b *testing.B) { benchGemm(b, Sgemm, s) })
	}
}

func BenchmarkSgemmGo(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchGemm(b, SgemmGo, s) })
	}
}
