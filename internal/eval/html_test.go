package eval

import (
	"bytes"
	"math"
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
