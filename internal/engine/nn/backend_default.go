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

func (blasBackend) SgemmBF16W(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	blas.SgemmBF16W(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func (blasBackend) GemmBF16(transA, transB bool, m, n, k int, alpha float32, a []uint16, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	blas.GemmBF16(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// ToBF16 converts float32 values to bfloat16 bits (round to nearest even).
func ToBF16(x []float32) []uint16 {
	out := make([]uint16, len(x))
	blas.F32ToBF16(out, x)
	return out
}

// ToBF16Into converts x to bfloat16 bits in dst (len(dst) ≥ len(x)).
func ToBF16Into(dst []uint16, x []float32) { blas.F32ToBF16(dst, x) }

// toBF16Rows converts rows of w values, ld apart in src, into the packed
// [rows, w] dst, on the calling goroutine.
func toBF16Rows(dst []uint16, src []float32, rows, w, ld int) {
	blas.F32ToBF16Rows(dst, src, rows, w, ld)
}
