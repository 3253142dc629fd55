package nn

import "github.com/whetstone/whetstone/internal/engine/blas"

// blasBackend is the CPU backend on package blas.
type blasBackend struct{}

func (blasBackend) Name() string { return "cpu/" + blas.Name() }
func (blasBackend) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	blas.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
func (blasBackend) Parallel(n int, fn func(lo, hi int)) { blas.Parallel(n, fn) }

func defaultBackend() Backend { return blasBackend{} }
