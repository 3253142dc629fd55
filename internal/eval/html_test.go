package eval

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestWordDiff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b, wantA, wantB string
	}{
		{"the cat sat", "the cat sat", "the cat sat", "the cat sat"},
		{"the cat sat", "the dog sat", "the <del>cat</del> sat", "the <ins>dog</ins> sat"},
		{"", "new words", "", "<ins>new</ins> <ins>words</ins>"},
		{"a <b> & c", "a c", "a <del>&lt;b&gt;</del> <del>&amp;</del> c", "a c"},
	}
	for _, tt := range tests {
		a, b := wordDiff(tt.a, tt.b)
		if string(a) != tt.wantA || string(b) != tt.wantB {
			t.Errorf("wordDiff(%q, %q) = %q, %q; want %q, %q", tt.a, tt.b, a, b, tt.wantA, tt.wantB)
		}
	}
}

func TestTicks(t *testing.T) {
	t.Parallel()
	got := niceTicks(0.13, 4.2, 5)
	want := []float64{1, 2, 3, 4}
	if len(got) != len(want) {
		t.Fatalf("niceTicks(0.13, 4.2, 5) = %v, want %v", got, want)
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Errorf("niceTicks(0.13, 4.2, 5) = %v, want %v", got, want)
		}
	}
	for v, want := range map[float64]string{-1e-17: "0", 2.5: "2.5", 3: "3", 0.125: "0.125"} {
		if got := tickLabel(v); got != want {
			t.Errorf("tickLabel(%v) = %q, want %q", v, got, want)
		}
	}
}

// TestHTMLWithoutHistoryOrMetrics renders an empty comparison: the page must
// still be well formed and say that there is no history.
func TestHTMLWithoutHistoryOrMetrics(t *testing.T) {
	t.Parallel()
	c := &Comparison{Kind: KindComparison, Confidence: 0.95, Bootstrap: 10, Base: &Evaluation{}, Tuned: &Evaluation{},
		Samples: []SampleComparison{{Prompt: "p", Reference: "r", BaseOutput: "x", TunedOutput: "y"}},
		Metrics: []MetricComparison{{Name: MetricRougeL, Base: CI{math.NaN(), math.NaN(), math.NaN()}, Tuned: CI{0.5, 0.4, 0.6}, Delta: CI{math.NaN(), math.NaN(), math.NaN()}}}}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, c); err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, buf.Bytes())
	if !bytes.Contains(buf.Bytes(), []byte("No training history")) {
		t.Error("page does not say the history is missing")
	}
	if bytes.Contains(buf.Bytes(), []byte("NaN")) {
		t.Error("page shows NaN")
	}
}

// TestHTMLContamination: the contamination section shows both rows of each
// finding and the counts, names the files without their server paths, says
// when the list is cut and when nothing was found or checked.
func TestHTMLContamination(t *testing.T) {
	t.Parallel()
	page := func(t *testing.T, c *Contamination) string {
		t.Helper()
		cmp := &Comparison{Kind: KindComparison, Confidence: 0.95, Bootstrap: 10, Base: &Evaluation{}, Tuned: &Evaluation{}, Contamination: c}
		var buf bytes.Buffer
		if err := WriteHTML(&buf, cmp); err != nil {
			t.Fatal(err)
		}
		checkSelfContained(t, buf.Bytes())
		return buf.String()
	}
	found := &Contamination{Ngram: 8, TrainFile: "/srv/whet/work/job_1/prep/train.jsonl", EvalFile: "/srv/whet/work/job_1/prep/validation.jsonl",
		TrainRows: 50, Rows: 2, Findings: []ContaminationFinding{{TrainRow: 3, EvalRow: 7, Shared: 12}, {TrainRow: 41, EvalRow: 1, Shared: 4}}}
	many := &Contamination{Ngram: 13, TrainFile: "train.jsonl", EvalFile: "validation.jsonl", TrainRows: 900, Rows: 150}
	for range MaxFindings {
		many.Findings = append(many.Findings, ContaminationFinding{TrainRow: 5, EvalRow: 6, Shared: 1})
	}
	for _, c := range []struct {
		name         string
		c            *Contamination
		want, absent []string
	}{
		{"found", found, []string{
			"<h2>Train/eval contamination</h2>", "2 of 50 training rows share a sequence of 8 words with an evaluated row",
			`<tr><td class="n">3</td><td class="n">7</td><td class="n">12</td></tr>`,
			`<tr><td class="n">41</td><td class="n">1</td><td class="n">4</td></tr>`,
			"<code>train.jsonl</code>", "<code>validation.jsonl</code>"},
			[]string{"/srv/whet", "are listed", "was not checked"}},
		{"cut", many, []string{"150 of 900 training rows share a sequence of 13 words", "The first 100 of 150 contaminated training rows are listed."}, nil},
		{"clean", &Contamination{Ngram: 8, TrainFile: "train.jsonl", EvalFile: "validation.jsonl", TrainRows: 50, Findings: []ContaminationFinding{}},
			[]string{"No training row shares a sequence of 8 words with an evaluated row (50 training rows checked)."}, []string{"<th>training row</th>"}},
		{"not checked", nil, []string{"Train/eval contamination was not checked"}, []string{"<h2>Train/eval contamination</h2>"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := page(t, c.c)
			for _, w := range c.want {
				if !strings.Contains(s, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, a := range c.absent {
				if strings.Contains(s, a) {
					t.Errorf("page has %q", a)
				}
			}
		})
	}
}
