package compare

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/blob/fsblob"
	"github.com/whetstone/whetstone/internal/eval"
)

// TestCompareResolvesReportReferences: evaluate runs on worker a with its
// inputs in a's scratch folder and stored in the blob store; a's folder is
// then gone. compare on worker b reads the model, its history and the split
// through the blob store (a real fsblob and blob.Cache behind
// Env.ResolveSource, as the orchestrator wires them), not the weights, for
// a report with references and for one written before them (a's local
// paths plus blob keys); neither its report nor the evaluation names a's
// folder.
func TestCompareResolvesReportReferences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		legacy bool // rewrite the report as evaluate wrote it before references
	}{
		{"references", false},
		{"local paths of a gone worker", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			store, err := fsblob.Open(filepath.Join(t.TempDir(), "blobs"))
			if err != nil {
				t.Fatal(err)
			}
			cache, err := blob.NewCache(store, t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			// Worker a: the stored outputs as a's scratch copies.
			dirA, model, data := setupData(t)
			os.WriteFile(filepath.Join(model.Path, "history.json"), []byte(`{"history":[{"step":1,"loss":2.5},{"step":2,"loss":2.0,"val_loss":2.2}]}`), 0o644)
			os.WriteFile(filepath.Join(data.Path, "train.jsonl"), []byte(`{"text":"Q1? yes it is the same row as an evaluated one","prompt":"Q1?"}`+"\n"), 0o644)
			model.Meta["base_model"] = filepath.Join(t.TempDir(), "base") // the pipeline's own base model folder
			for _, a := range []*agent.Artifact{&model, &data} {
				a.URI = "jobs/job_1/" + filepath.Base(a.Path) + "/"
				filepath.WalkDir(a.Path, func(p string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						rel, _ := filepath.Rel(a.Path, p)
						_, err = blob.PutFile(ctx, store, a.URI+filepath.ToSlash(rel), p, false)
					}
					return err
				})
			}
			var calls atomic.Int32
			report := runEvaluate(t, loader(&calls), nil, model, data)
			b, err := os.ReadFile(report)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), dirA) {
				t.Fatalf("evaluation.json names worker a's folder %s:\n%s", dirA, b)
			}
			if tt.legacy {
				var e map[string]any
				json.Unmarshal(b, &e)
				m, d := e["model"].(map[string]any), e["dataset"].(map[string]any)
				m["path"], m["adapter"], m["history"] = model.Path, model.Path, filepath.Join(model.Path, "history.json")
				d["path"], d["file"] = data.Path, filepath.Join(data.Path, "validation.jsonl")
				b, _ = json.Marshal(e)
				report = filepath.Join(t.TempDir(), "evaluation.json")
				os.WriteFile(report, b, 0o644)
			}
			if err := os.RemoveAll(dirA); err != nil { // worker a is gone
				t.Fatal(err)
			}

			// Worker b.
			var mu sync.Mutex
			var resolved []string
			var adapters []string
			load := func(ctx context.Context, base, adapter string) (eval.Model, eval.Tokenizer, error) {
				mu.Lock()
				adapters = append(adapters, adapter)
				mu.Unlock()
				return loader(&calls)(ctx, base, adapter)
			}
			env := &agent.Env{Params: compareParams(), OutDir: t.TempDir(), Inputs: []agent.Artifact{{Type: agent.Report, Path: report}},
				ResolveSource: func(ctx context.Context, ref, _ string) (string, error) {
					key, ok := strings.CutPrefix(ref, agent.BlobRef)
					if !ok {
						t.Errorf("asked to resolve %q, not a blob reference", ref)
					}
					mu.Lock()
					resolved = append(resolved, ref)
					mu.Unlock()
					return cache.Materialize(ctx, key, filepath.Join(t.TempDir(), "src"))
				}}
			if _, err := New(load).Run(ctx, env); err != nil {
				t.Fatal(err)
			}
			// The history file, not the evaluated weights; the split's folder
			// once (the evaluated split and the training split beside it).
			want := []string{agent.BlobRef + model.URI + "history.json", agent.BlobRef + data.URI}
			if len(resolved) != 2 || resolved[0] != want[0] || resolved[1] != want[1] {
				t.Errorf("resolved %q, want %q", resolved, want)
			}
			if len(adapters) != 1 || adapters[0] != "" {
				t.Errorf("models loaded with adapters %q, want the base alone", adapters)
			}
			c := readComparison(t, env.OutDir)
			if len(c.History) != 2 {
				t.Errorf("history %+v, want the 2 records of the stored history.json", c.History)
			}
			if c.Contamination == nil || c.Contamination.TrainRows != 1 {
				t.Errorf("contamination %+v, want the stored train.jsonl checked", c.Contamination)
			}
			if c.Tuned.Model.Path != agent.BlobRef+model.URI || c.Tuned.Dataset.File != want[1]+"validation.jsonl" || c.Base.Model.Path != model.Meta["base_model"] {
				t.Errorf("comparison models: tuned %+v %+v, base %+v", c.Tuned.Model, c.Tuned.Dataset, c.Base.Model)
			}
			if b, _ := os.ReadFile(filepath.Join(env.OutDir, ReportFile)); strings.Contains(string(b), dirA) {
				t.Errorf("comparison.json names worker a's folder %s", dirA)
			}
		})
	}
}
