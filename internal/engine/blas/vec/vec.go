// Package vec has the element-wise float32 kernels of the training engine:
// BLAS level-1 style loops (Dot, Axpy, Scale, Add, Mul, Sum), a fast
// float32 exponential and row-wise softmax. Loops are unrolled so the
// compiler keeps several independent chains in flight, and slices longer
// than parallelMin elements are split across cores with blas.ParallelMin.
//
// All functions panic if a destination or second operand is shorter than
// the first operand, like an index out of range.
package vec

import (
	"math"

	"github.com/whetstone/whetstone/internal/engine/blas"
)

// parallelMin is the slice length below which the element-wise functions
// run on one goroutine: shorter loops take less time than a hand-off.
const parallelMin = 1 << 15

// Dot returns Σ x[i]·y[i] over len(x), summed in four interleaved float32
// partial sums.
func Dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xx := x[i : i+4 : i+4]
		yy := y[i : i+4 : i+4]
		s0 += xx[0] * yy[0]
		s1 += xx[1] * yy[1]
		s2 += xx[2] * yy[2]
		s3 += xx[3] * yy[3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Sum returns Σ x[i] in four interleaved float32 partial sums.
func Sum(x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		xx := x[i : i+4 : i+4]
		s0 += xx[0]
		s1 += xx[1]
		s2 += xx[2]
		s3 += xx[3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Max returns the largest element of x, or -Inf for an empty x. NaNs are
// ignored unless all elements are NaN.
func Max(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	return m
}

// Axpy sets y[i] += alpha·x[i] for i < len(x).
func Axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	each(len(x), func(lo, hi int) {
		xx, yy := x[lo:hi], y[lo:hi]
		for i, v := range xx {
			yy[i] += alpha * v
		}
	})
}

// Scale sets x[i] *= alpha.
func Scale(alpha float32, x []float32) {
	each(len(x), func(lo, hi int) {
		xx := x[lo:hi]
		for i := range xx {
			xx[i] *= alpha
		}
	})
}

// Add sets dst[i] = x[i] + y[i] for i < len(x); dst may alias x or y.
func Add(dst, x, y []float32) {
	dst, y = dst[:len(x)], y[:len(x)]
	each(len(x), func(lo, hi int) {
		d, xx, yy := dst[lo:hi], x[lo:hi], y[lo:hi]
		for i, v := range xx {
			d[i] = v + yy[i]
		}
	})
}

// Mul sets dst[i] = x[i]·y[i] for i < len(x); dst may alias x or y.
func Mul(dst, x, y []float32) {
	dst, y = dst[:len(x)], y[:len(x)]
	each(len(x), func(lo, hi int) {
		d, xx, yy := dst[lo:hi], x[lo:hi], y[lo:hi]
		for i, v := range xx {
			d[i] = v * yy[i]
		}
	})
}

// each runs fn over [0, n), split across cores when n is large.
func each(n int, fn func(lo, hi int)) {
	if n < parallelMin {
		fn(0, n)
		return
	}
	blas.ParallelMin(n, parallelMin/2, fn)
}
