//go:build cgo && !noblas

package blas

import "testing"

// BenchmarkSgemmDNNL times oneDNN's dnnl_sgemm, to compare with OpenBLAS.
func BenchmarkSgemmDNNL(b *testing.B) {
	if err := DNNLError(); err != nil {
		b.Skip(err)
	}
	gemm := func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, bb []float32, ldb int, beta float32, c []float32, ldc int) {
		sgemmDNNL(transA, transB, m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc)
	}
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchGemm(b, gemm, s) })
	}
}
