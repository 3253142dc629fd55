package eval

import (
	"math"
	"testing"
)

func mean(xs []float64, idx []int) float64 {
	s := 0.0
	for _, i := range idx {
		s += xs[i]
	}
	return s / float64(len(idx))
}

// TestBootstrapCoverage draws many samples from distributions with a known
// mean and checks that the 95% interval contains it at about the nominal
// rate. The percentile bootstrap runs a little under nominal at small n, so
// the band is [0.89, 0.98]; a wrong quantile, a non-random resample or a
// one-sided interval falls far outside it.
func TestBootstrapCoverage(t *testing.T) {
	t.Parallel()
	rng := NewRand(7)
	tests := []struct {
		name string
		draw func() float64
		mean float64
	}{
		{"normal", func() float64 { return 3 + 2*rng.NormFloat64() }, 3},
		{"bernoulli 0.3", func() float64 {
			if rng.Float64() < 0.3 {
				return 1
			}
			return 0
		}, 0.3},
		{"exponential", func() float64 { return rng.ExpFloat64() }, 1},
	}
	const experiments, n = 300, 60
	for _, tt := range tests {
		hits := 0
		width := 0.0
		for range experiments {
			xs := make([]float64, n)
			for i := range xs {
				xs[i] = tt.draw()
			}
			ci := Bootstrap(n, 400, 0.95, rng, func(idx []int) float64 { return mean(xs, idx) })
			if ci.Contains(tt.mean) {
				hits++
			}
			if !(ci.Lo <= ci.Estimate && ci.Estimate <= ci.Hi) {
				t.Fatalf("%s: estimate %v outside its interval [%v, %v]", tt.name, ci.Estimate, ci.Lo, ci.Hi)
			}
			width += ci.Hi - ci.Lo
		}
		cov := float64(hits) / experiments
		t.Logf("%s: coverage %.3f, mean width %.3f", tt.name, cov, width/experiments)
		if cov < 0.89 || cov > 0.98 {
			t.Errorf("%s: 95%% interval covered the true mean in %.3f of %d experiments", tt.name, cov, experiments)
		}
	}
}

// TestBootstrapPairedDelta checks a paired difference: system B scores A's
// value plus 0.1 plus noise on each unit; the interval of the mean delta
// must cover 0.1 at about the nominal rate, and a 0.80 interval must be
// narrower than a 0.99 one.
func TestBootstrapPairedDelta(t *testing.T) {
	t.Parallel()
	rng := NewRand(11)
	const experiments, n = 200, 50
	hits := 0
	for range experiments {
		a := make([]float64, n)
		b := make([]float64, n)
		for i := range a {
			a[i] = rng.Float64()
			b[i] = a[i] + 0.1 + 0.2*rng.NormFloat64()
		}
		stat := func(idx []int) float64 { return mean(b, idx) - mean(a, idx) }
		ci := Bootstrap(n, 300, 0.95, rng, stat)
		if ci.Contains(0.1) {
			hits++
		}
		narrow := Bootstrap(n, 300, 0.80, NewRand(1), stat)
		wide := Bootstrap(n, 300, 0.99, NewRand(1), stat)
		if narrow.Hi-narrow.Lo >= wide.Hi-wide.Lo {
			t.Fatalf("0.80 interval [%v, %v] not narrower than 0.99 interval [%v, %v]", narrow.Lo, narrow.Hi, wide.Lo, wide.Hi)
		}
	}
	if cov := float64(hits) / experiments; cov < 0.89 || cov > 0.985 {
		t.Errorf("paired delta coverage %.3f, want about 0.95", cov)
	}
}

func TestBootstrapDeterministicAndEdges(t *testing.T) {
	t.Parallel()
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8}
	stat := func(idx []int) float64 { return mean(xs, idx) }
	a := Bootstrap(len(xs), 200, 0.9, NewRand(5), stat)
	b := Bootstrap(len(xs), 200, 0.9, NewRand(5), stat)
	if a != b {
		t.Errorf("same seed gave %+v and %+v", a, b)
	}
	if a.Estimate != 4.5 {
		t.Errorf("estimate %v, want 4.5", a.Estimate)
	}
	if c := Bootstrap(0, 10, 0.95, NewRand(1), stat); !math.IsNaN(c.Estimate) {
		t.Errorf("n=0 gave %+v, want NaN", c)
	}
	// A constant statistic has a zero-width interval.
	c := Bootstrap(5, 50, 0.95, NewRand(1), func([]int) float64 { return 2 })
	if c.Lo != 2 || c.Hi != 2 {
		t.Errorf("constant statistic interval %+v", c)
	}
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	// NumPy: np.quantile([1,2,3,4,10], [0, .25, .5, .9, 1]) = [1, 2, 3, 7.6, 10].
	s := []float64{1, 2, 3, 4, 10}
	for q, want := range map[float64]float64{0: 1, 0.25: 2, 0.5: 3, 0.9: 7.6, 1: 10} {
		if got := quantile(s, q); !near(got, want) {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
}
