package blas

import (
	"math/rand/v2"
	"slices"
	"time"
)

// Precision selects the GEMM that Measure times.
type Precision int

const (
	// F32 is Sgemm.
	F32 Precision = iota
	// BF16 is GemmBF16 (bf16 inputs, float32 output).
	BF16
)

func (p Precision) String() string {
	if p == BF16 {
		return "bf16"
	}
	return "f32"
}

// Measure times C = A·Bᵀ GEMMs of shape m×n×k (A m×k, B n×k, the layout
// of a linear layer's forward pass) in precision p, for at least d after
// one untimed warm-up call, and returns the median rate over the calls in
// GFLOP/s (2·m·n·k floating-point operations per call). It allocates the
// operands itself.
func Measure(p Precision, m, n, k int, d time.Duration) float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	a := make([]float32, m*k)
	b := make([]float32, n*k)
	for i := range a {
		a[i] = rng.Float32() - 0.5
	}
	for i := range b {
		b[i] = rng.Float32() - 0.5
	}
	c := make([]float32, m*n)
	run := func() { Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n) }
	if p == BF16 {
		ab, bb := make([]uint16, len(a)), make([]uint16, len(b))
		F32ToBF16(ab, a)
		F32ToBF16(bb, b)
		run = func() { GemmBF16(false, true, m, n, k, 1, ab, k, bb, k, 0, c, n) }
	}
	run()
	flops := 2 * float64(m) * float64(n) * float64(k)
	var rates []float64
	for start := time.Now(); time.Since(start) < d || len(rates) < 3; {
		t := time.Now()
		run()
		rates = append(rates, flops/time.Since(t).Seconds()/1e9)
	}
	slices.Sort(rates)
	return rates[len(rates)/2]
}

// MeasurePeak returns the best of Measure over a few large shapes (the
// machine's practical GEMM peak in precision p), spending about d in all.
func MeasurePeak(p Precision, d time.Duration) float64 {
	shapes := [][3]int{{1024, 1536, 576}, {1024, 1024, 1024}, {2048, 2048, 2048}}
	best := 0.0
	for _, s := range shapes {
		best = max(best, Measure(p, s[0], s[1], s[2], d/time.Duration(len(shapes))))
	}
	return best
}
