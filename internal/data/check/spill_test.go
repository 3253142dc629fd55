package check

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/whetstone/whetstone/internal/data/dataset"
	"github.com/whetstone/whetstone/internal/data/synth"
)

// repoRoot walks up from the package directory to go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("go.mod not found")
		}
		dir = up
	}
}

// plantCopies writes the Alpaca rows of src as JSONL with exact copies and
// near copies (one word of the output changed) of earlier rows mixed in.
func plantCopies(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for i, r := range rows {
		enc.Encode(r)
		if i%7 == 3 {
			enc.Encode(rows[i/2])
		}
		if i%5 == 1 {
			c := map[string]any{}
			for k, v := range rows[i*2/3] {
				c[k] = v
			}
			out, _ := c["output"].(string)
			if w := strings.Fields(out); len(w) > 60 {
				w[len(w)-3] = "changed"
				c["output"] = strings.Join(w, " ")
				enc.Encode(c)
			}
		}
	}
}

// TestSpillSameReport checks that spilling the duplicate indexes (a tiny
// budget) gives the same report as keeping them in memory, on real
// datasets and on planted duplicates, and leaves no temporary files.
func TestSpillSameReport(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	lf := filepath.Join(root, "../shared/assets/datasets/llama-factory")
	tmp := t.TempDir()
	planted := filepath.Join(tmp, "planted.jsonl")
	plantCopies(t, filepath.Join(lf, "alpaca_en_demo.json"), planted)
	synthetic := filepath.Join(tmp, "synth.jsonl")
	f, err := os.Create(synthetic)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := synth.Write(f, synth.Options{Bytes: 1 << 20, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	tests := []struct {
		path      string
		threshold float64
		wantDups  bool // the file has exact and near duplicates
	}{
		{planted, 0.9, true},
		{planted, 0.5, true},
		{synthetic, 0.9, true},
		{filepath.Join(lf, "alpaca_en_demo.json"), 0.7, false},
		{filepath.Join(lf, "dpo_en_demo.json"), 0.9, false},
		{filepath.Join(lf, "kto_en_demo.json"), 0.9, false},
		{filepath.Join(lf, "c4_demo.jsonl"), 0.5, false},
		{filepath.Join(lf, "glaive_toolcall_en_demo.json"), 0.8, false},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			t.Parallel()
			var reps []Report
			for _, budget := range []int{0, 1, 40 << 10} { // default, spill at once, spill part way
				s, err := dataset.OpenFile(tt.path, "")
				if err != nil {
					t.Fatal(err)
				}
				opts := Defaults()
				opts.NearThreshold = tt.threshold
				opts.DedupBudget = budget
				opts.Workers = 2
				opts.TempDir = t.TempDir()
				rep, err := Run(context.Background(), s, opts)
				s.Close()
				if err != nil {
					t.Fatal(err)
				}
				if _, spilled := spilledIn.Load(opts.TempDir); (budget != 0) != spilled {
					t.Errorf("budget %d: spilled %v", budget, spilled)
				}
				left, _ := os.ReadDir(opts.TempDir)
				if len(left) > 0 {
					t.Errorf("budget %d: temporary files left: %v", budget, left)
				}
				reps = append(reps, rep)
			}
			for i, budget := range []int{1, 40 << 10} {
				if d := cmp.Diff(reps[0], reps[i+1], cmp.AllowUnexported(Finding{})); d != "" {
					t.Errorf("in memory vs budget %d (-memory +spilled)\n%s", budget, d)
				}
			}
			got, _ := counts(reps[0])
			if tt.wantDups && (got[Duplicate] == 0 || got[NearDuplicate] == 0) {
				t.Errorf("planted duplicates not found: %v", got)
			}
			t.Logf("%d rows, %d duplicates, %d near duplicates", reps[0].Rows, got[Duplicate], got[NearDuplicate])
		})
	}
}
