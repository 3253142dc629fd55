package nn

import (
	"runtime"
	"sync"
)

// Backend is the small set of primitives the kernels are built on.
// Implementations must be safe for concurrent use: Sgemm may be called from
// several goroutines at once, each with its own output.
type Backend interface {
	// Name identifies the backend, e.g. "openblas" or "go".
	Name() string
	// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices,
	// op(A) m×k, op(B) k×n, C m×n (see package blas).
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	// Parallel splits [0, n) into contiguous chunks run concurrently and
	// returns when all are done.
	Parallel(n int, fn func(lo, hi int))
}

var be Backend = defaultBackend()

// SetBackend replaces the backend used by every kernel. Not safe to call
// while kernels run.
func SetBackend(b Backend) { be = b }

// CurrentBackend returns the backend in use.
func CurrentBackend() Backend { return be }

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	be.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// parallelRows runs fn over [0, n) split across cores, keeping chunks of at
// least minChunk rows.
func parallelRows(n, minChunk int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if n < 2*minChunk {
		fn(0, n)
		return
	}
	be.Parallel(n, fn)
}

// goParallel is a plain goroutine splitter used by the pure-Go backend.
func goParallel(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	w := min(runtime.GOMAXPROCS(0), n)
	if w <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for lo := chunk; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() { defer wg.Done(); fn(lo, hi) }()
	}
	fn(0, min(chunk, n))
	wg.Wait()
}

// goSgemm is a straightforward row-major GEMM (the reference the tests and the
// pure-Go path use until package blas provides a faster one).
func goSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	goParallel(m, func(lo, hi int) {
		row := make([]float32, n)
		for i := lo; i < hi; i++ {
			clear(row)
			for p := 0; p < k; p++ {
				var av float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if av == 0 {
					continue
				}
				if transB {
					for j := 0; j < n; j++ {
						row[j] += av * b[j*ldb+p]
					}
				} else {
					br := b[p*ldb : p*ldb+n]
					for j, bv := range br {
						row[j] += av * bv
					}
				}
			}
			cr := c[i*ldc : i*ldc+n]
			if beta == 0 {
				for j := range cr {
					cr[j] = alpha * row[j]
				}
			} else {
				for j := range cr {
					cr[j] = alpha*row[j] + beta*cr[j]
				}
			}
		}
	})
}

type goBackend struct{}

func (goBackend) Name() string { return "go" }
func (goBackend) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	goSgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
func (goBackend) Parallel(n int, fn func(lo, hi int)) { goParallel(n, fn) }

// BF16Backend is an optional Backend capability: products whose B operand
// is stored as bfloat16 bits (frozen weights converted once), with A rounded
// to bfloat16 and float32 accumulation.
type BF16Backend interface {
	SgemmBF16W(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int)
	// GemmBF16 has both operands as bfloat16 bits (attention's products).
	GemmBF16(transA, transB bool, m, n, k int, alpha float32, a []uint16, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int)
}

// sgemmW computes C = alpha·op(A)·op(W) + beta·C with W given either as
// float32 (w) or, when wbf is non-nil, as bfloat16 bits.
func sgemmW(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, w []float32, wbf []uint16, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if wbf != nil {
		if bb, ok := be.(BF16Backend); ok {
			bb.SgemmBF16W(transA, transB, m, n, k, alpha, a, lda, wbf, ldb, beta, c, ldc)
			return
		}
		panic("nn: backend " + be.Name() + " has no bf16 products")
	}
	be.Sgemm(transA, transB, m, n, k, alpha, a, lda, w, ldb, beta, c, ldc)
}
