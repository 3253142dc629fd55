package prep

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/whetstone/whetstone/internal/data/dataset"
	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/data/synth"
	"github.com/whetstone/whetstone/internal/data/template"
)

// TestSpillSameOutput checks that spilling the duplicate indexes (tiny
// budgets) writes the same rows and statistics as keeping them in memory,
// and leaves no temporary files.
func TestSpillSameOutput(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	synthetic := filepath.Join(tmp, "synth.jsonl")
	f, err := os.Create(synthetic)
	if err != nil {
		t.Fatal(err)
	}
	planted, err := synth.Write(f, synth.Options{Bytes: 1 << 20, Seed: 11})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Real rows with copies of earlier ones mixed in.
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "../shared/assets/datasets/llama-factory/alpaca_en_demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(tmp, "real.jsonl")
	var sb strings.Builder
	for i, r := range recs {
		for _, x := range []map[string]any{r, recs[i/2]} {
			line, _ := json.Marshal(x)
			sb.Write(line)
			sb.WriteByte('\n')
			if i%4 != 1 {
				break
			}
		}
	}
	if err := os.WriteFile(real, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, dedup string
		threshold   float64
	}{
		{synthetic, "near", 0.9},
		{synthetic, "exact", 0},
		{real, "near", 0.5},
		{real, "exact", 0},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path)+"/"+tt.dedup, func(t *testing.T) {
			t.Parallel()
			type result struct {
				st         Stats
				train, val []template.Row
				files      []string
			}
			var res []result
			for _, budget := range []int{0, 1, 30 << 10} {
				s, err := dataset.OpenFile(tt.path, record.Alpaca)
				if err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				st, err := Run(context.Background(), s, dir, Options{Template: template.Alpaca, Dedup: tt.dedup,
					NearThreshold: tt.threshold, ValidationSplit: 0.1, Seed: 3, Workers: 2, DedupBudget: budget})
				s.Close()
				if err != nil {
					t.Fatal(err)
				}
				if _, spilled := spilledIn.Load(dir); (budget != 0) != spilled {
					t.Errorf("budget %d: spilled %v", budget, spilled)
				}
				var files []string
				ents, _ := os.ReadDir(dir)
				for _, e := range ents {
					files = append(files, e.Name())
				}
				res = append(res, result{st, rows(t, filepath.Join(dir, "train.jsonl")), rows(t, filepath.Join(dir, "validation.jsonl")), files})
			}
			for i, budget := range []int{1, 30 << 10} {
				if d := cmp.Diff(res[0], res[i+1], cmp.AllowUnexported(result{}), cmpopts.IgnoreFields(Stats{}, "Seconds")); d != "" {
					t.Errorf("in memory vs budget %d (-memory +spilled)\n%s", budget, d)
				}
			}
			st := res[0].st
			if st.Dropped[DropDuplicate] == 0 || (tt.dedup == "near" && tt.path == synthetic && st.Dropped[DropNear] == 0) {
				t.Errorf("nothing dropped: %v", st.Dropped)
			}
			if tt.path == synthetic && st.Dropped[DropDuplicate] < planted.Duplicates {
				t.Errorf("%d duplicates dropped, planted %d", st.Dropped[DropDuplicate], planted.Duplicates)
			}
			t.Logf("%d rows out, dropped %v, files %v", st.RowsOut, st.Dropped, res[0].files)
		})
	}
}

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
