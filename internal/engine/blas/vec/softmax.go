package vec

import (
	"math"

	"github.com/whetstone/whetstone/internal/engine/blas"
)

// SoftmaxRows replaces each of the rows×cols row-major x's rows by its
// softmax, exp(x - max)/Σexp(x - max), in parallel over rows. A row whose
// elements are all -Inf (fully masked) becomes all zeros. Panics if x is
// shorter than rows·cols.
func SoftmaxRows(x []float32, rows, cols int) {
	x = x[:rows*cols]
	blas.ParallelMin(rows, max(1, 4096/max(cols, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			softmax(x[r*cols : (r+1)*cols])
		}
	})
}

func softmax(row []float32) {
	m := Max(row)
	if math.IsInf(float64(m), -1) {
		clear(row)
		return
	}
	for i := range row {
		row[i] -= m
	}
	expSlice(row, row)
	Scale(1/Sum(row), row)
}

// LogSumExp returns log Σ exp(x[i]), computed stably; -Inf for an empty x
// or one of all -Inf.
func LogSumExp(x []float32) float32 {
	m := Max(x)
	if math.IsInf(float64(m), 0) {
		return m
	}
	var s float32
	for _, v := range x {
		s += Exp32(v - m)
	}
	return m + float32(math.Log(float64(s)))
}
