package eval

import (
	"math"
	"slices"
)

// ExampleChange is one unit (sample or validation row) whose score moved
// between the base and the tuned model.
type ExampleChange struct {
	Index int     `json:"index"` // row index in the split
	Base  float64 `json:"base"`
	Tuned float64 `json:"tuned"`
	// Change is how much better the tuned model did: Tuned − Base, negated
	// for metrics where lower is better (negative: worse).
	Change      float64 `json:"change"`
	Prompt      string  `json:"prompt,omitempty"`
	Reference   string  `json:"reference,omitempty"`
	BaseOutput  string  `json:"base_output,omitempty"`
	TunedOutput string  `json:"tuned_output,omitempty"`
}

// ExampleChanges lists, for one metric, the units that got worse and
// better, largest change first, and how many flipped.
type ExampleChanges struct {
	Metric string          `json:"metric"`
	Units  int             `json:"units"`
	Worse  []ExampleChange `json:"worse"`
	Better []ExampleChange `json:"better"`
	// Flips counts units whose score moved each way (for 0/1 metrics such
	// as exact_match and accuracy: right→wrong and wrong→right), with
	// Wilson intervals of their share of the units at the report's
	// confidence.
	Flips Flips `json:"flips"`
}

// Flips counts units that moved.
type Flips struct {
	Worse    int     `json:"worse"`
	WorseLo  float64 `json:"worse_rate_lo"`
	WorseHi  float64 `json:"worse_rate_hi"`
	Better   int     `json:"better"`
	BetterLo float64 `json:"better_rate_lo"`
	BetterHi float64 `json:"better_rate_hi"`
}

// maxExamples bounds each list of ExampleChanges.
const maxExamples = 50

// exampleChanges compares base and tuned unit by unit on metric.
func exampleChanges(base, tuned *Evaluation, metric string, conf float64) *ExampleChanges {
	n := Units(tuned, metric)
	if n == 0 || Units(base, metric) != n {
		return nil
	}
	lower := LowerIsBetter(metric)
	ec := &ExampleChanges{Metric: metric, Units: n, Worse: []ExampleChange{}, Better: []ExampleChange{}}
	for i := range n {
		b, t := unitScore(base, metric, i), unitScore(tuned, metric, i)
		o := outcome(b, t, lower)
		if o != Win && o != Loss {
			continue
		}
		d := t - b
		if lower {
			d = -d
		}
		x := ExampleChange{Base: b, Tuned: t, Change: d}
		if metric == MetricLoss || metric == MetricPerplexity {
			x.Index = tuned.Loss[i].Index
			// The validation row's outputs, when it was also generated on.
			if j := slices.IndexFunc(tuned.Samples, func(s Sample) bool { return s.Index == x.Index }); j >= 0 {
				x.Prompt, x.Reference = tuned.Samples[j].Prompt, tuned.Samples[j].Reference
				x.BaseOutput, x.TunedOutput = base.Samples[j].Output, tuned.Samples[j].Output
			}
		} else {
			s := tuned.Samples[i]
			x.Index, x.Prompt, x.Reference = s.Index, s.Prompt, s.Reference
			x.BaseOutput, x.TunedOutput = base.Samples[i].Output, s.Output
		}
		if o == Loss {
			ec.Worse = append(ec.Worse, x)
		} else {
			ec.Better = append(ec.Better, x)
		}
	}
	ec.Flips.Worse, ec.Flips.Better = len(ec.Worse), len(ec.Better)
	ec.Flips.WorseLo, ec.Flips.WorseHi = Wilson(ec.Flips.Worse, n, conf)
	ec.Flips.BetterLo, ec.Flips.BetterHi = Wilson(ec.Flips.Better, n, conf)
	bySize := func(a, b ExampleChange) int {
		if c := -cmpFloat(math.Abs(a.Change), math.Abs(b.Change)); c != 0 {
			return c
		}
		return a.Index - b.Index
	}
	slices.SortFunc(ec.Worse, bySize)
	slices.SortFunc(ec.Better, bySize)
	ec.Worse = ec.Worse[:min(len(ec.Worse), maxExamples)]
	ec.Better = ec.Better[:min(len(ec.Better), maxExamples)]
	return ec
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
