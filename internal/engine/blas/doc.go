// Package blas provides the dense kernels of the training engine: a
// row-major float32 GEMM (Sgemm), a bfloat16-input GEMM with float32 output
// (GemmBF16, SgemmBF16W, SgemmBF16), bf16 conversions, and Parallel, the
// loop splitter everything parallel in the engine uses.
//
// # Backends
//
// With cgo (the default build), Sgemm runs on OpenBLAS's cblas_sgemm
// (cblas_sgemv for one-row or one-column products) and the bf16 GEMMs on
// oneDNN's matmul primitive (brgemm with AVX512_BF16 where the CPU has it).
// Both libraries are opened with dlopen on first use, not linked: building
// needs only a C compiler and oneDNN's headers (libdnnl-dev; without them a
// stub is compiled), and a binary runs without the libraries, on the
// pure-Go code. Name and BF16Name say what is in use; OpenBLASError and
// DNNLError say why a library is not.
//
// Without cgo, or with the noblas build tag, everything is pure Go: Sgemm
// is SgemmGo (packed panels, an AVX2/FMA assembly micro-kernel on amd64)
// and the bf16 GEMMs run Sgemm on the bf16 values.
//
// All backends compute the same function; results differ only by the order
// of float32 summation. Element-wise kernels are in package vec.
//
// # Threads
//
// The libraries run single-threaded and each product is split into row
// blocks (or, for oneDNN with a transposed A, blocks of k) run by Parallel
// on GOMAXPROCS goroutines, so no library thread spins between calls and
// competes with the engine's Go code. A GEMM or Parallel called inside
// another Parallel uses only the processors not already busy.
//
// # Environment
//
// OpenBLAS and libgomp read their settings when loaded, so the package sets
// them just for the dlopen call and then restores the environment:
// OPENBLAS_CORETYPE=SkylakeX on CPUs with AVX-512 (about 2× the Haswell
// kernel that this machine's environment selects), OPENBLAS_NUM_THREADS=1,
// OMP_NUM_THREADS=1 and OMP_WAIT_POLICY=PASSIVE. WHET_OPENBLAS_CORETYPE
// overrides the core type; WHET_BLAS_DISABLE=openblas,dnnl keeps either
// library from loading.
//
// # Layout
//
// All matrices are row-major. For the GEMMs, op(A) is m×k, op(B) is k×n and
// C is m×n. When transA is false, A is stored m×k with row stride lda; when
// it is true, A is stored k×m (so op(A) = Aᵀ) with row stride lda. Likewise
// for B. C has row stride ldc.
package blas
