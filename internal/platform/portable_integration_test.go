//go:build integration

package platform_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/compare"
	"github.com/whetstone/whetstone/internal/agents/evaluate"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/agents/preprocess"
	"github.com/whetstone/whetstone/internal/agents/train"
	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/eval"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/testsvc"
)

// portableSpec trains stories260K for a few LoRA steps on worker "a",
// evaluates it there, and compares it with its base on worker "b".
const portableSpec = `
name: portable
nodes:
  - {id: data, agent: dataset, params: {source: examples/log-stories.jsonl}}
  - id: prep
    agent: preprocess
    params: {tokenizer: ../shared/assets/models/stories260K, template: none, max_tokens: 64, validation_split: 0.2, seed: 42}
  - id: tune
    agent: train
    requires: {labels: [a]}
    params:
      base_model: ../shared/assets/models/stories260K
      method: lora
      lora: {rank: 4, alpha: 8, dropout: 0.0, targets: all-linear}
      max_steps: 6
      batch_size: 8
      learning_rate: 5.0e-3
      max_seq_len: 64
      eval_every: 3
      seed: 7
  - id: score
    agent: evaluate
    requires: {labels: [a]}
    params: {metrics: [loss, rouge_l], max_new_tokens: 8, samples: 4}
  - id: versus
    agent: compare
    requires: {labels: [b]}
    params: {report_html: true, bootstrap: 50}
edges:
  - {from: data, to: prep}
  - {from: prep, to: tune}
  - {from: tune, to: score}
  - {from: prep, to: score}
  - {from: score, to: versus}
`

// TestIntegrationEvaluateCompareOnTwoWorkers: evaluate runs on worker a,
// which then goes away with its data folder; compare runs on worker b,
// whose data folder is another. Worker a's evaluation.json names the model,
// its training history and the evaluated split by blob references, not by
// a's folders, and b resolves them through the blob store: the comparison
// has the training curve and the contamination check (the training split
// beside the evaluated one), and no report names either data folder.
//
// With a local blob store the shared folder is reached through a link in
// each worker's own data folder, as a network share mounted at a different
// place on each machine would be.
func TestIntegrationEvaluateCompareOnTwoWorkers(t *testing.T) {
	for _, backend := range []string{"fs", "s3"} {
		t.Run(backend, func(t *testing.T) {
			root := t.TempDir()
			db := filepath.Join(root, "whet.db")
			shared := filepath.Join(root, "shared-blobs")
			var blobURL string
			if backend == "s3" {
				s3 := testsvc.NeedS3(t)
				t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
				t.Setenv("AWS_SECRET_ACCESS_KEY", s3.Secret)
				blobURL = s3.URL(testsvc.Name("portable"))
			} else if err := os.MkdirAll(shared, 0o755); err != nil {
				t.Fatal(err)
			}
			dirA, dirB := filepath.Join(root, "worker-a"), filepath.Join(root, "worker-b")
			ctx := context.Background()

			a := portableWorker(t, dirA, db, blobURL, shared, "a")
			sp, err := pipeline.Parse([]byte(portableSpec))
			if err != nil {
				t.Fatal(err)
			}
			job, err := a.Orch.Submit(ctx, sp, "")
			if err != nil {
				t.Fatal(err)
			}
			// Only a works until evaluate is done; versus waits for b.
			waitJob(t, a, job.ID, "evaluate done on worker a", func(j *store.Job) bool {
				return nodeOf(j, "score").Status == store.Succeeded
			})
			stop, cancel := context.WithTimeout(ctx, 10*time.Second)
			a.Stop(stop)
			cancel()
			// Worker a is gone, and its data folder (and its way to the
			// blob folder) with it.
			if err := os.RemoveAll(dirA); err != nil {
				t.Fatal(err)
			}

			b := portableWorker(t, dirB, db, blobURL, shared, "b")
			j := waitJob(t, b, job.ID, "job done", func(j *store.Job) bool { return j.Status.Terminal() })
			if j.Status != store.Succeeded {
				t.Fatalf("job %s: %s (versus: %s)", j.Status, j.Error, nodeOf(j, "versus").Error)
			}

			folders := []string{dirA, dirB, shared, root}
			noFolders := func(what string, b []byte) {
				t.Helper()
				for _, f := range folders {
					if strings.Contains(string(b), f) {
						t.Errorf("%s names the folder %s:\n%s", what, f, excerpt(b, f))
					}
				}
			}

			evalJSON := readOutput(t, b.Blobs, nodeOf(j, "score"), eval.KindEvaluation)
			noFolders("evaluation.json", evalJSON)
			var e eval.Evaluation
			if err := json.Unmarshal(evalJSON, &e); err != nil {
				t.Fatal(err)
			}
			model, prep := nodeOf(j, "tune").Outputs[0], nodeOf(j, "prep").Outputs
			wantModel := agent.BlobRef + model.URI
			if e.Model.Path != wantModel || e.Model.Adapter != wantModel || e.Model.History != wantModel+"history.json" || e.Model.URI != model.URI {
				t.Errorf("evaluation.json model = %+v, want path and adapter %s, history %shistory.json", e.Model, wantModel, wantModel)
			}
			var split agent.Artifact
			for _, o := range prep {
				if o.Type == agent.Dataset {
					split = o
				}
			}
			if !strings.HasPrefix(e.Dataset.File, agent.BlobRef+split.URI) || e.Dataset.URI != split.URI || e.Dataset.Rows == 0 {
				t.Errorf("evaluation.json dataset = %+v, want a reference under %s%s", e.Dataset, agent.BlobRef, split.URI)
			}

			cmpJSON := readOutput(t, b.Blobs, nodeOf(j, "versus"), eval.KindComparison)
			noFolders("comparison.json", cmpJSON)
			noFolders("comparison.html", readOutput(t, b.Blobs, nodeOf(j, "versus"), "comparison_html"))
			var c eval.Comparison
			if err := json.Unmarshal(cmpJSON, &c); err != nil {
				t.Fatal(err)
			}
			if len(c.History) == 0 {
				t.Error("comparison.json has no training history: worker b did not read the one evaluate recorded")
			}
			if c.Contamination == nil || c.Contamination.TrainRows == 0 {
				t.Errorf("comparison.json contamination = %+v: the training split beside the evaluated one was not read", c.Contamination)
			}
			if c.Tuned == nil || c.Tuned.Model.Path != wantModel || c.Base == nil || c.Base.Model.Path != filepath.Join(assets.RepoRoot(t), "..", "shared", "assets", "models", "stories260K") {
				t.Errorf("comparison.json models: tuned %+v, base %+v", c.Tuned, c.Base)
			}
			outs, err := json.Marshal(j.Nodes)
			if err != nil {
				t.Fatal(err)
			}
			noFolders("the job's node outputs", outs)
		})
	}
}

// portableWorker opens a worker with its own data folder dir and labels,
// sharing the database file db and the blob store: blobURL, or with none
// the folder shared, reached through the link dir/blobs.
func portableWorker(t *testing.T, dir, db, blobURL, shared, labels string) *platform.Platform {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir, cfg.Database, cfg.Labels = dir, db, labels
	cfg.BlobDir = filepath.Join(dir, "blobs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if blobURL != "" {
		cfg.BlobURL = blobURL
	} else if err := os.Symlink(shared, cfg.BlobDir); err != nil {
		t.Fatal(err)
	}
	cfg.PollInterval, cfg.LeaseTimeout, cfg.RetryBase = 50*time.Millisecond, 10*time.Second, 100*time.Millisecond
	cfg.WorkDir = assets.RepoRoot(t)
	var reg agent.Registry
	for _, ag := range []agent.Agent{ingest.New(), preprocess.New(), train.New(), evaluate.New(nil), compare.New(nil)} {
		if err := reg.Register(ag); err != nil {
			t.Fatal(err)
		}
	}
	p, err := platform.Open(context.Background(), cfg, &reg, platform.Options{Work: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Stop(ctx)
	})
	return p
}

// waitJob polls the job until done says so, failing the test when it
// fails first or takes over three minutes.
func waitJob(t *testing.T, p *platform.Platform, id, what string, done func(*store.Job) bool) *store.Job {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		j, err := p.Store.GetJob(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if done(j) {
			return j
		}
		if j.Status.Terminal() {
			t.Fatalf("waiting for %s: job %s: %s", what, j.Status, j.Error)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: timed out", what)
	return nil
}

func nodeOf(j *store.Job, id string) *store.Node {
	for _, n := range j.Nodes {
		if n.ID == id {
			return n
		}
	}
	panic(fmt.Sprintf("job %s has no node %s", j.ID, id))
}

// readOutput returns the content of node n's output name (a file) from the
// blob store.
func readOutput(t *testing.T, s blob.Store, n *store.Node, name string) []byte {
	t.Helper()
	for _, o := range n.Outputs {
		if o.Name != name {
			continue
		}
		r, err := s.Open(context.Background(), o.URI)
		if err != nil {
			t.Fatalf("node %s output %s: %v", n.ID, name, err)
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Fatalf("node %s has no output %s", n.ID, name)
	return nil
}

// excerpt is the text around the first f in b.
func excerpt(b []byte, f string) string {
	i := strings.Index(string(b), f)
	lo, hi := max(0, i-120), min(len(b), i+len(f)+120)
	return string(b[lo:hi])
}
