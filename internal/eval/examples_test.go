package eval

import (
	"fmt"
	"strings"
	"testing"
)

// TestExampleChanges: a fine-tune that improves the average ROUGE-L but
// breaks two samples; the report lists them worst first with both outputs,
// and counts the flips with Wilson intervals.
func TestExampleChanges(t *testing.T) {
	t.Parallel()
	mk := func(scores []float64, losses []float64, tag string) *Evaluation {
		e := &Evaluation{Metrics: []string{MetricRougeL, MetricLoss}}
		for i, s := range scores {
			e.SampleIndices = append(e.SampleIndices, i*10)
			e.Samples = append(e.Samples, Sample{Index: i * 10, Prompt: fmt.Sprint("p", i), Reference: fmt.Sprint("r", i),
				Output: fmt.Sprint(tag, i), Scores: map[string]float64{MetricRougeL: s}})
		}
		for i, l := range losses {
			e.Loss = append(e.Loss, LossRow{Index: i * 10, Sum: l * 4, Tokens: 4})
		}
		return e
	}
	base := mk([]float64{0.2, 0.9, 0.1, 0.5, 0.8, 0.3}, []float64{2, 2, 2, 2}, "base")
	tuned := mk([]float64{0.9, 0.4, 0.7, 0.5, 0.7, 0.8}, []float64{1.5, 2.5, 2, 1}, "tuned")
	c, err := Compare(base, tuned, CompareOptions{Resamples: 50})
	if err != nil {
		t.Fatal(err)
	}
	ex := c.Examples
	if c.Primary != MetricRougeL || ex == nil || ex.Metric != MetricRougeL || ex.Units != 6 {
		t.Fatalf("primary %q examples %+v", c.Primary, ex)
	}
	idx := func(xs []ExampleChange) (out []int) {
		for _, x := range xs {
			out = append(out, x.Index)
		}
		return out
	}
	// Worse: sample 1 (0.9→0.4, −0.5), sample 4 (0.8→0.7, −0.1). Better:
	// 0 (+0.7), 2 (+0.6), 5 (+0.5). Sample 3 tied.
	if got := fmt.Sprint(idx(ex.Worse), idx(ex.Better)); got != "[10 40] [0 20 50]" {
		t.Errorf("worse, better = %s", got)
	}
	if w := ex.Worse[0]; w.BaseOutput != "base1" || w.TunedOutput != "tuned1" || w.Prompt != "p1" || w.Base != 0.9 || w.Tuned != 0.4 {
		t.Errorf("worst example %+v", w)
	}
	lo, hi := Wilson(2, 6, 0.95)
	if ex.Flips.Worse != 2 || ex.Flips.Better != 3 || ex.Flips.WorseLo != lo || ex.Flips.WorseHi != hi || !(lo > 0.05 && hi < 0.8) {
		t.Errorf("flips %+v, Wilson(2,6) = [%v, %v]", ex.Flips, lo, hi)
	}
	// By loss (lower is better): row 30 improved most (2→1), row 0 (2→1.5);
	// row 10 got worse (2→2.5), with its generated outputs.
	el := c.ExamplesLoss
	if el == nil || fmt.Sprint(idx(el.Worse), idx(el.Better)) != "[10] [30 0]" || el.Worse[0].Change != -0.5 || el.Worse[0].TunedOutput != "tuned1" {
		t.Errorf("loss examples %+v", el)
	}
}

func TestExampleChangesHTML(t *testing.T) {
	t.Parallel()
	base := &Evaluation{Metrics: []string{MetricExactMatch}, SampleIndices: []int{0, 1}, Samples: []Sample{
		{Index: 0, Output: "right answer", Scores: map[string]float64{MetricExactMatch: 1}},
		{Index: 1, Output: "b", Scores: map[string]float64{MetricExactMatch: 1}}}}
	tuned := &Evaluation{Metrics: []string{MetricExactMatch}, SampleIndices: []int{0, 1}, Samples: []Sample{
		{Index: 0, Output: "wrong answer", Scores: map[string]float64{MetricExactMatch: 0}},
		{Index: 1, Output: "b", Scores: map[string]float64{MetricExactMatch: 1}}}}
	c, err := Compare(base, tuned, CompareOptions{Resamples: 10})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteHTML(&b, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Got worse by exact_match", "1 of 2 got worse", "wrong answer", "right answer"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}
