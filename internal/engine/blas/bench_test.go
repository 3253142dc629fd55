package blas

import (
	"math/rand/v2"
	"reflect"
	"strings"
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
	if pureGo(gemm) && 2*s.m*s.n*s.k > 10e9 {
		b.Skip("pure Go takes tens of seconds per call on this shape")
	}
	a, bb, c, lda, ldb := benchOperands(s)
	gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n) // warm up
	b.ReportAllocs()
	for b.Loop() {
		gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n)
	}
	reportFlops(b, s)
}

func BenchmarkSgemm(b *testing.B) {
	b.Logf("backend: %s", Name())
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchGemm(b, Sgemm, s) })
	}
}

func BenchmarkSgemmGo(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchGemm(b, sgemmGoBench, s) })
	}
}

// sgemmGoBench is SgemmGo as a distinct function value, so benchGemm can
// tell it is the pure-Go one.
var sgemmGoBench gemmFunc = SgemmGo

func pureGo(gemm gemmFunc) bool {
	return strings.HasPrefix(Name(), "go") || reflect.ValueOf(gemm).Pointer() == reflect.ValueOf(sgemmGoBench).Pointer()
}

// benchOperands returns random operands for s and the leading dimensions.
func benchOperands(s benchShape) (a, b, c []float32, lda, ldb int) {
	rng := rand.New(rand.NewPCG(1, 2))
	a = randSlice(rng, s.m*s.k)
	b = randSlice(rng, s.k*s.n)
	c = make([]float32, s.m*s.n)
	lda, ldb = s.k, s.n
	if s.transA {
		lda = s.m
	}
	if s.transB {
		ldb = s.k
	}
	return a, b, c, lda, ldb
}

func reportFlops(b *testing.B, s benchShape) {
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkGemmBF16 times GemmBF16 on pre-converted operands.
func BenchmarkGemmBF16(b *testing.B) {
	b.Logf("bf16 backend: %s", BF16Name())
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			if strings.HasPrefix(Name(), "go") && DNNLError() != nil && 2*s.m*s.n*s.k > 10e9 {
				b.Skip("pure Go takes tens of seconds per call on this shape")
			}
			a, bb, c, lda, ldb := benchOperands(s)
			ab, bbb := make([]uint16, len(a)), make([]uint16, len(bb))
			F32ToBF16(ab, a)
			F32ToBF16(bbb, bb)
			GemmBF16(s.transA, s.transB, s.m, s.n, s.k, 1, ab, lda, bbb, ldb, 0, c, s.n) // warm up
			b.ReportAllocs()
			for b.Loop() {
				GemmBF16(s.transA, s.transB, s.m, s.n, s.k, 1, ab, lda, bbb, ldb, 0, c, s.n)
			}
			reportFlops(b, s)
		})
	}
}

// BenchmarkSgemmBF16W times SgemmBF16W: float32 activations (converted per
// call) times pre-converted bf16 weights, the engine's bf16 forward.
func BenchmarkSgemmBF16W(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			if strings.HasPrefix(Name(), "go") && DNNLError() != nil && 2*s.m*s.n*s.k > 10e9 {
				b.Skip("pure Go takes tens of seconds per call on this shape")
			}
			a, bb, c, lda, ldb := benchOperands(s)
			bbb := make([]uint16, len(bb))
			F32ToBF16(bbb, bb)
			SgemmBF16W(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bbb, ldb, 0, c, s.n) // warm up
			b.ReportAllocs()
			for b.Loop() {
				SgemmBF16W(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bbb, ldb, 0, c, s.n)
			}
			reportFlops(b, s)
		})
	}
}

func BenchmarkF32ToBF16(b *testing.B) {
	src := make([]float32, 1024*576)
	for i := range src {
		src[i] = float32(i) * 0.001
	}
	dst := make([]uint16, len(src))
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		F32ToBF16(dst, src)
	}
}
