//go:build cgo && !noblas

package blas

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestFigures prints, with WHET_BLAS_FIGURES=1, a Markdown table of the
// best-of-N GFLOP/s of every backend on the engine's shapes (docs/kernels.md).
// Best-of rather than mean, because the machine is shared: the best call is
// the one least disturbed by other processes.
func TestFigures(t *testing.T) {
	if os.Getenv("WHET_BLAS_FIGURES") != "1" {
		t.Skip("set WHET_BLAS_FIGURES=1 to measure")
	}
	const calls = 15
	best := func(s benchShape, run func()) float64 {
		run()
		b := time.Duration(1 << 62)
		for range calls {
			t0 := time.Now()
			run()
			b = min(b, time.Since(t0))
		}
		return 2 * float64(s.m) * float64(s.n) * float64(s.k) / b.Seconds() / 1e9
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nSgemm: %s\nGemmBF16: %s\n\n", Name(), BF16Name())
	fmt.Fprintf(&sb, "| shape (m×n×k, op) | OpenBLAS f32 | oneDNN f32 | oneDNN bf16 | bf16, A converted per call |\n|---|---|---|---|---|\n")
	for _, s := range benchShapes {
		a, b, c, lda, ldb := benchOperands(s)
		ab, bb := make([]uint16, len(a)), make([]uint16, len(b))
		F32ToBF16(ab, a)
		F32ToBF16(bb, b)
		ob := best(s, func() { Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n) })
		df := best(s, func() { sgemmDNNL(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n) })
		db := best(s, func() { GemmBF16(s.transA, s.transB, s.m, s.n, s.k, 1, ab, lda, bb, ldb, 0, c, s.n) })
		dw := best(s, func() { SgemmBF16W(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n) })
		fmt.Fprintf(&sb, "| %s | %.0f | %.0f | %.0f | %.0f |\n", s.name, ob, df, db, dw)
	}
	for _, p := range []Precision{F32, BF16} {
		fmt.Fprintf(&sb, "\nMeasurePeak(%v, 3s) = %.0f GFLOP/s", p, MeasurePeak(p, 3*time.Second))
	}
	t.Log(sb.String())
}
