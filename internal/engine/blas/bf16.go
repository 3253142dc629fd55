package blas

import (
	"math"
	"sync"
)

// F32ToBF16 converts src to bfloat16 bits in dst, rounding to nearest even
// (NaNs stay NaN). Runs in parallel for long slices. Panics if dst is
// shorter than src.
func F32ToBF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	ParallelMin(len(src), 1<<15, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		if f32ToBF16Native(d, s) {
			return
		}
		for i, v := range s {
			d[i] = bf16(v)
		}
	})
}

// F32ToBF16Rows converts rows rows of w elements, ld apart in src, to
// bfloat16 bits in the packed [rows, w] dst, on the calling goroutine (for
// callers that split work across cores themselves, and for the strided
// column blocks of fused projections). Panics if dst or src is too short.
func F32ToBF16Rows(dst []uint16, src []float32, rows, w, ld int) {
	if rows <= 0 || w <= 0 {
		return
	}
	dst, src = dst[:rows*w], src[:(rows-1)*ld+w]
	if f32ToBF16RowsNative(dst, src, rows, w, ld) {
		return
	}
	for r := 0; r < rows; r++ {
		for i, v := range src[r*ld : r*ld+w] {
			dst[r*w+i] = bf16(v)
		}
	}
}

// BF16ToF32 converts bfloat16 bits in src to float32 in dst (exact). Panics
// if dst is shorter than src.
func BF16ToF32(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	ParallelMin(len(src), 1<<15, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		if bf16ToF32Native(d, s) {
			return
		}
		for i, v := range s {
			d[i] = math.Float32frombits(uint32(v) << 16)
		}
	})
}

// RoundBF16 rounds every element of x to the nearest bfloat16 value in
// place (ties to even), as a bf16 GEMM sees its f32 inputs.
func RoundBF16(x []float32) {
	ParallelMin(len(x), 1<<15, func(lo, hi int) {
		s := x[lo:hi]
		for i, v := range s {
			s[i] = math.Float32frombits(uint32(bf16(v)) << 16)
		}
	})
}

func bf16(v float32) uint16 {
	b := math.Float32bits(v)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep it a (quiet) NaN
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// GemmBF16 computes C = alpha·op(A)·op(B) + beta·C like Sgemm, with A and B
// given as bfloat16 bits and C in float32. Products are exact and sums are
// kept in float32, so the result differs from Sgemm on the same (bf16)
// values only by summation order. Uses oneDNN's bf16 matmul when available
// (BF16Name says which), else converts to float32 and calls Sgemm.
func GemmBF16(transA, transB bool, m, n, k int, alpha float32, a []uint16, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	checkGemmBF16(transA, transB, m, n, k, len(a), lda, len(b), ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if gemmBF16Native(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
		return
	}
	af := getF32(len(a))
	bfl := getF32(len(b))
	defer putF32(af)
	defer putF32(bfl)
	BF16ToF32(*af, a)
	BF16ToF32(*bfl, b)
	Sgemm(transA, transB, m, n, k, alpha, *af, lda, *bfl, ldb, beta, c, ldc)
}

// SgemmBF16 is GemmBF16 with float32 inputs, rounded to bfloat16 (nearest
// even) first: the matmul of bf16 autocast.
func SgemmBF16(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	ab := getBF16(len(a))
	bb := getBF16(len(b))
	defer putBF16(ab)
	defer putBF16(bb)
	F32ToBF16(*ab, a)
	F32ToBF16(*bb, b)
	GemmBF16(transA, transB, m, n, k, alpha, *ab, lda, *bb, ldb, beta, c, ldc)
}

// SgemmBF16W is GemmBF16 with A in float32 (rounded to bfloat16 first) and B
// already in bfloat16: activations times pre-converted weights.
func SgemmBF16W(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	checkGemmBF16(transA, transB, m, n, k, len(a), lda, len(b), ldb, c, ldc)
	// Convert only the rows op(A) reads: a may be a view into a wider
	// buffer (a column block of a fused projection's output).
	rows, cols := m, k
	if transA {
		rows, cols = k, m
	}
	if rows > 0 && cols > 0 {
		a = a[:min(len(a), (rows-1)*lda+cols)]
	}
	ab := getBF16(len(a))
	defer putBF16(ab)
	F32ToBF16(*ab, a)
	GemmBF16(transA, transB, m, n, k, alpha, *ab, lda, b, ldb, beta, c, ldc)
}

// checkGemmBF16 is checkGemm for bf16 operands.
func checkGemmBF16(transA, transB bool, m, n, k, lenA, lda, lenB, ldb int, c []float32, ldc int) {
	checkDims(transA, transB, m, n, k, lenA, lda, lenB, ldb, len(c), ldc)
}

var (
	f32Pool  sync.Pool
	bf16Pool sync.Pool
)

func getF32(n int) *[]float32 {
	if p, ok := f32Pool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

func putF32(p *[]float32) { f32Pool.Put(p) }

func getBF16(n int) *[]uint16 {
	if p, ok := bf16Pool.Get().(*[]uint16); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]uint16, n)
	return &s
}

func putBF16(p *[]uint16) { bf16Pool.Put(p) }
