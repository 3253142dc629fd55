package eval

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
)

// CI is a point estimate with a two-sided confidence interval.
type CI struct {
	Estimate float64 `json:"estimate"`
	Lo       float64 `json:"lo"`
	Hi       float64 `json:"hi"`
}

// MarshalJSON writes NaN fields as null (JSON has no NaN).
func (c CI) MarshalJSON() ([]byte, error) {
	f := func(v float64) any {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return v
	}
	return json.Marshal(map[string]any{"estimate": f(c.Estimate), "lo": f(c.Lo), "hi": f(c.Hi)})
}

// UnmarshalJSON reads null fields as NaN.
func (c *CI) UnmarshalJSON(b []byte) error {
	var v struct{ Estimate, Lo, Hi *float64 }
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	g := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	*c = CI{g(v.Estimate), g(v.Lo), g(v.Hi)}
	return nil
}

// Contains reports whether v lies in [Lo, Hi].
func (c CI) Contains(v float64) bool { return c.Lo <= v && v <= c.Hi }

// Bootstrap computes the percentile bootstrap confidence interval of a
// statistic over n units (samples, rows). stat receives the indices of the
// units to use, with repetitions; it is called once with 0..n-1 for the
// estimate and then once per resample. For a paired comparison, let stat
// compute the difference between two systems on the same indices.
//
// resamples defaults to 1000 when not positive, and confidence to 0.95 when
// not in (0, 1). Resamples where stat is NaN are dropped. With n == 0 every
// field is NaN.
func Bootstrap(n, resamples int, confidence float64, rng *rand.Rand, stat func(idx []int) float64) CI {
	nan := math.NaN()
	if n == 0 {
		return CI{nan, nan, nan}
	}
	if resamples <= 0 {
		resamples = 1000
	}
	if !(confidence > 0 && confidence < 1) {
		confidence = 0.95
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	est := stat(idx)
	vals := make([]float64, 0, resamples)
	for range resamples {
		for i := range idx {
			idx[i] = rng.IntN(n)
		}
		if v := stat(idx); !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return CI{est, nan, nan}
	}
	slices.Sort(vals)
	alpha := (1 - confidence) / 2
	return CI{Estimate: est, Lo: quantile(vals, alpha), Hi: quantile(vals, 1-alpha)}
}

// quantile is the q-quantile of sorted vals with linear interpolation between
// order statistics (NumPy's default method).
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	frac := pos - float64(lo)
	return sorted[lo] + frac*(sorted[hi]-sorted[lo])
}

// NewRand returns the deterministic generator reports use for seed.
func NewRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
}
