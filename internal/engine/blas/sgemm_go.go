//go:build !cgo || noblas

package blas

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// where op(X) is X or Xᵀ as transA/transB say; op(A) is m×k, op(B) is k×n and
// C is m×n. lda, ldb and ldc are the row strides of A, B and C as stored.
// beta == 0 overwrites C without reading it. Panics if a slice is too short
// for its dimensions and stride.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmGo(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Name returns the name of the Sgemm backend: "go" in this build.
func Name() string { return "go" }

// OpenBLASError returns why OpenBLAS is not used: this build has no cgo.
func OpenBLASError() error { return errNoCgo }
