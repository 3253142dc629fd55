package preprocess

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/agents/validate"
	"github.com/whetstone/whetstone/internal/data/check"
	"github.com/whetstone/whetstone/internal/data/contam"
	"github.com/whetstone/whetstone/internal/data/datatest"
	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/data/template"
)

// TestContamination copies two evaluation rows into training data: the
// validate node reports a contamination finding naming both rows on each
// side, and preprocess with decontaminate: true drops them, against the
// eval_sets the validate node handed on.
func TestContamination(t *testing.T) {
	t.Parallel()
	var all []map[string]any
	b, err := os.ReadFile(datatest.Dataset(t, "llama-factory/alpaca_en_demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	eval := all[500:520]
	var train []map[string]any
	var planted []int // 1-based training rows that copy eval rows
	for i, r := range all[:300] {
		train = append(train, r)
		switch i {
		case 49:
			train = append(train, eval[5]) // eval row 6
			planted = append(planted, len(train))
		case 199:
			train = append(train, eval[12]) // eval row 13
			planted = append(planted, len(train))
		}
	}
	dir := t.TempDir()
	write := func(name string, v any) string {
		b, _ := json.Marshal(v)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	evalPath, trainPath := write("eval.json", eval), write("train.json", train)

	ds := node(t, ingest.New(), agent.Params{"source": trainPath})
	env := &agent.Env{Params: agent.Params{"eval_sets": []any{evalPath}}, Inputs: ds, OutDir: t.TempDir(), WorkDir: dir, Emit: agent.Discard}
	arts := node(t, validate.New(), env.Params, ds[0])
	var rep check.Report
	b, _ = os.ReadFile(filepath.Join(filepath.Dir(arts[1].Path), "validation.json"))
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	var f *check.Finding
	for _, x := range rep.Findings {
		if x.Kind == check.Contamination {
			f = x
		}
	}
	if f == nil {
		t.Fatalf("no contamination finding: %s", b)
	}
	if !slices.Equal(f.RowList, planted) {
		t.Errorf("contaminated rows %v, planted %v", f.RowList, planted)
	}
	want := []check.Match{{Row: planted[0], EvalSet: evalPath, EvalRow: 6}, {Row: planted[1], EvalSet: evalPath, EvalRow: 13}}
	for i := range f.Matches {
		f.Matches[i].Shared = 0
	}
	if !slices.Equal(f.Matches, want) {
		t.Errorf("matches %+v, want %+v", f.Matches, want)
	}

	// decontaminate: true against the sets validate handed on; no dedup,
	// so only contamination removes the copies.
	out := node(t, New(), agent.Params{"decontaminate": true, "validation_split": 0.1}, arts[0])
	st := readStats(t, filepath.Join(filepath.Dir(out[1].Path), "preprocess.json"))
	if st.Dropped["contaminated"] != 2 {
		t.Errorf("dropped %v, want 2 contaminated", st.Dropped)
	}
	idx, err := validate.EvalIndex(t.Context(), []string{"eval"}, []string{evalPath}, contam.DefaultN)
	if err != nil {
		t.Fatal(err)
	}
	var scratch []uint64
	for _, name := range []string{"train.jsonl", "validation.jsonl"} {
		for _, r := range readRows(t, filepath.Join(out[0].Path, name)) {
			for _, e := range []int{5, 12} {
				norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
				if strings.Contains(norm(r.Text), norm(eval[e]["output"].(string))) {
					t.Errorf("%s: eval row %d still present (line %d)", name, e+1, r.Line)
				}
			}
			var rec record.Record
			rec.Format, rec.Text = record.Text, r.Text
			if _, _, ok := idx.Match(contam.Words(&rec, nil), &scratch); ok && !strings.HasPrefix(name, "validation") {
				// Templated text adds words around the fields; an n-gram
				// inside one field still matches.
				t.Errorf("%s line %d still shares an n-gram with the evaluation set", name, r.Line)
			}
		}
	}
}

// TestDecontaminateSplit: a row copied 20 times lands on both sides of the
// split; decontaminate drops the training copies that overlap validation
// rows, and no training row then shares an n-gram with a validation row.
func TestDecontaminateSplit(t *testing.T) {
	t.Parallel()
	var all []map[string]any
	b, _ := os.ReadFile(datatest.Dataset(t, "llama-factory/alpaca_en_demo.json"))
	json.Unmarshal(b, &all)
	train := append([]map[string]any(nil), all[:200]...)
	for range 20 {
		train = append(train, all[300])
	}
	p := filepath.Join(t.TempDir(), "train.json")
	b, _ = json.Marshal(train)
	os.WriteFile(p, b, 0o644)
	ds := node(t, ingest.New(), agent.Params{"source": p})
	out := node(t, New(), agent.Params{"decontaminate": true, "validation_split": 0.1, "seed": 7}, ds[0])
	st := readStats(t, filepath.Join(filepath.Dir(out[1].Path), "preprocess.json"))
	val := readRows(t, filepath.Join(out[0].Path, "validation.jsonl"))
	tr := readRows(t, filepath.Join(out[0].Path, "train.jsonl"))
	mark := strings.Fields(all[300]["output"].(string))[:8]
	copies := func(rows []template.Row) int {
		n := 0
		for _, r := range rows {
			if strings.Contains(strings.Join(strings.Fields(r.Text), " "), strings.Join(mark, " ")) {
				n++
			}
		}
		return n
	}
	inVal, inTrain := copies(val), copies(tr)
	if inVal == 0 {
		t.Fatalf("seed 7 put no copy in validation (%d in train; dropped %v); pick another seed", inTrain, st.Dropped)
	}
	if inTrain != 0 || st.Dropped["overlaps_validation"] < 20-inVal {
		t.Errorf("copies: %d in validation, %d left in train; dropped %v", inVal, inTrain, st.Dropped)
	}
	if st.RowsTrain+st.RowsValidation != st.RowsOut || len(tr) != st.RowsTrain {
		t.Errorf("stats %+v, train rows %d", st, len(tr))
	}
}
