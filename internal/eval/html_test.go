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
	c := &Comparison{Kind: KindComparison, Confidence: 0.95, Bootstrap: 10,
		Base:    &Evaluation{Model: ModelRef{Path: "/srv/shared/models/stories260K"}},
		Tuned:   &Evaluation{Model: ModelRef{Path: "/var/lib/whet/blobs/jobs/job_1/tune/model"}},
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
	// The models by name, not by the server's folders.
	for _, want := range []string{"<td>base</td><td><code>stories260K</code>", "<td>fine-tuned</td><td><code>tune/model</code>"} {
		if !bytes.Contains(buf.Bytes(), []byte(want)) {
			t.Errorf("page lacks %q", want)
		}
	}
	if bytes.Contains(buf.Bytes(), []byte("/srv/")) || bytes.Contains(buf.Bytes(), []byte("/var/lib")) {
		t.Error("page names a server folder")
	}
}

// TestHTMLContamination: the page says how many training rows overlap the
// evaluated ones and lists both rows of each finding, names the files
// without their server folders, and says so when nothing was found or the
// check was not made.
func TestHTMLContamination(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		c        *Contamination
		want     []string
		dontWant []string
	}{
		{
			name: "found",
			c: &Contamination{Ngram: 13, TrainFile: "/srv/whet/jobs/job_1/prep/train.jsonl", EvalFile: "/srv/whet/jobs/job_1/prep/validation.jsonl",
				TrainRows: 90, Rows: 3, Findings: []ContaminationFinding{{TrainRow: 4, EvalRow: 2, Shared: 7}, {TrainRow: 17, EvalRow: 9, Shared: 2}}},
			want: []string{
				"3 of 90 training rows (3.3 %) share a 13-word sequence with an evaluated row",
				`<tr><td class="n">4</td><td class="n">2</td><td class="n">7</td></tr>`,
				`<tr><td class="n">17</td><td class="n">9</td><td class="n">2</td></tr>`,
				"The first 2 of 3 contaminated training rows are listed.",
				"<code>train.jsonl</code> checked against <code>validation.jsonl</code>",
			},
			dontWant: []string{"/srv/whet", "Not checked"},
		},
		{
			name:     "none",
			c:        &Contamination{Ngram: 8, TrainFile: "train.jsonl", EvalFile: "validation.jsonl", TrainRows: 900, Findings: []ContaminationFinding{}},
			want:     []string{"None: no training row shares a 8-word sequence with an evaluated row (900 training rows checked)."},
			dontWant: []string{"training rows are listed", "<th>training row</th>"},
		},
		{
			name:     "not checked",
			want:     []string{"<h2>Contamination</h2>", "Not checked: no training split was found next to the evaluated rows."},
			dontWant: []string{"training rows checked"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &Comparison{Kind: KindComparison, Confidence: 0.95, Bootstrap: 10,
				Base:  &Evaluation{Model: ModelRef{Path: "/srv/shared/models/stories260K"}},
				Tuned: &Evaluation{Model: ModelRef{Path: "/var/lib/whet/blobs/jobs/job_1/tune/model"}}, Contamination: tt.c}
			var buf bytes.Buffer
			if err := WriteHTML(&buf, c); err != nil {
				t.Fatal(err)
			}
			checkSelfContained(t, buf.Bytes())
			page := buf.String()
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tt.dontWant {
				if strings.Contains(page, w) {
					t.Errorf("page has %q", w)
				}
			}
		})
	}
}
