//go:build cgo && !noblas

package blas

import (
	"fmt"
	"os"
	"strings"
	"syscall"
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
	calls := 15
	// best returns the best wall-clock rate of single calls, and the rate
	// per CPU-second of the process over all calls times GOMAXPROCS (what
	// the cores would do if nothing else ran; it overstates when the
	// threads wait on memory or each other).
	best := func(s benchShape, run func()) string {
		run()
		b := time.Duration(1 << 62)
		cpu0 := cpuTime()
		for range calls {
			t0 := time.Now()
			run()
			b = min(b, time.Since(t0))
		}
		cpu := cpuTime() - cpu0
		flop := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		return fmt.Sprintf("%.0f / %.0f", flop/b.Seconds()/1e9, flop*float64(calls)/cpu.Seconds()/1e9*float64(maxProcs()))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nSgemm: %s\nGemmBF16: %s\n\n", Name(), BF16Name())
	fmt.Fprintf(&sb, "GFLOP/s, best call / per CPU-second × %d\n\n", maxProcs())
	fmt.Fprintf(&sb, "| shape (m×n×k, op) | OpenBLAS f32 | oneDNN f32 | oneDNN bf16 | bf16, A converted per call | pure Go f32 |\n|---|---|---|---|---|---|\n")
	for _, s := range benchShapes {
		a, b, c, lda, ldb := benchOperands(s)
		ab, bb := make([]uint16, len(a)), make([]uint16, len(b))
		F32ToBF16(ab, a)
		F32ToBF16(bb, b)
		ob := best(s, func() { Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n) })
		df := best(s, func() { sgemmDNNL(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n) })
		db := best(s, func() { GemmBF16(s.transA, s.transB, s.m, s.n, s.k, 1, ab, lda, bb, ldb, 0, c, s.n) })
		dw := best(s, func() { SgemmBF16W(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bb, ldb, 0, c, s.n) })
		gf := "—"
		if 2*s.m*s.n*s.k < 10e9 {
			calls = 3
			gf = best(s, func() { SgemmGo(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n) })
			calls = 15
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s |\n", s.name, ob, df, db, dw, gf)
	}
	for _, p := range []Precision{F32, BF16} {
		fmt.Fprintf(&sb, "\nMeasurePeak(%v, 3s) = %.0f GFLOP/s", p, MeasurePeak(p, 3*time.Second))
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&sb, "\n/proc/loadavg after: %s", load)
	t.Log(sb.String())
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
