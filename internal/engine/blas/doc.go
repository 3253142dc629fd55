// Package blas provides the dense kernels of the training engine: a row-major
// single-precision GEMM, a bf16-input GEMM, and a helper that splits loops
// across cores.
//
// # Backends
//
// The package is built with one of several backends, chosen by build tags:
//
//   - cgo (default when CGO_ENABLED=1): Sgemm calls OpenBLAS's cblas_sgemm
//     (Debian libopenblas-dev).
//   - !cgo or the noblas tag: a blocked, parallel pure-Go implementation.
//
// Name reports which one is in use. All backends compute the same function;
// results differ only by floating-point rounding.
//
// # Layout
//
// All matrices are row-major. For Sgemm, op(A) is m×k, op(B) is k×n and C is
// m×n. When transA is false, A is stored m×k with row stride lda; when it is
// true, A is stored k×m (so op(A) = Aᵀ) with row stride lda. Likewise for B.
package blas
