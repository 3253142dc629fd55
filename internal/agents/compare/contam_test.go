package compare

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
)

// TestCompareReportsContamination: evaluation rows copied into the
// training split are contamination findings of the compare report, naming
// the training row and the evaluated row.
func TestCompareReportsContamination(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	animals := []string{"cat", "dog", "fox", "owl", "bee", "cow", "hen", "elk", "ant", "bat", "yak", "eel", "ram", "jay", "koi", "gnu", "emu", "asp", "cod", "doe"}
	q := func(i int) string {
		return fmt.Sprintf("Question %d: which colour is the %s that sleeps near the old stone bridge at number %d every night?", i, animals[i], i*7)
	}
	var val, train strings.Builder
	for i := range 20 {
		fmt.Fprintf(&val, `{"text":"%s yes","prompt":"%s"}`+"\n", q(i), q(i))
	}
	copied := map[int]int{4: 3, 17: 9} // training row -> validation row (1-based)
	for row := 1; row <= 30; row++ {
		if v, ok := copied[row]; ok {
			fmt.Fprintf(&train, `{"text":"%s yes","prompt":"%s"}`+"\n", q(v-1), q(v-1))
			continue
		}
		fmt.Fprintf(&train, `{"text":"Training row %d talks about something else entirely, like baking bread on a sunny morning number %d.","prompt":"Training row %d"}`+"\n", row, row, row)
	}
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "validation.jsonl"), []byte(val.String()), 0o644)
	os.WriteFile(filepath.Join(data, "train.jsonl"), []byte(train.String()), 0o644)
	os.MkdirAll(filepath.Join(dir, "adapter"), 0o755)
	os.WriteFile(filepath.Join(dir, "adapter", "adapter_config.json"), []byte(`{"r":4}`), 0o644)
	model := agent.Artifact{Type: agent.Model, Path: filepath.Join(dir, "adapter"), Meta: map[string]any{"base_model": "/base"}}
	var calls atomic.Int32
	report := runEvaluate(t, loader(&calls), nil, model, agent.Artifact{Type: agent.Dataset, Path: data})
	out := t.TempDir()
	if _, err := New(loader(&calls)).Run(t.Context(), &agent.Env{Params: compareParams(), OutDir: out,
		Inputs: []agent.Artifact{{Type: agent.Report, Path: report}}}); err != nil {
		t.Fatal(err)
	}
	c := readComparison(t, out).Contamination
	if c == nil {
		t.Fatal("no contamination section")
	}
	if c.TrainRows != 30 || c.Rows != 2 || len(c.Findings) != 2 || c.Ngram != 13 {
		t.Fatalf("contamination %+v", c)
	}
	// The files by name: a server's folders are not the user's business.
	if c.TrainFile != "train.jsonl" || c.EvalFile != "validation.jsonl" {
		t.Errorf("contamination files %q, %q; want train.jsonl, validation.jsonl", c.TrainFile, c.EvalFile)
	}
	for _, f := range c.Findings {
		if copied[f.TrainRow] != f.EvalRow || f.Shared == 0 {
			t.Errorf("finding %+v, want training row %d ↔ evaluated row %d", f, f.TrainRow, copied[f.TrainRow])
		}
	}
}
