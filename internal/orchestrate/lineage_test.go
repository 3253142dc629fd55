package orchestrate_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/whetstone/whetstone/internal/store"
)

// TestLineage: the job records the dataset versions its nodes named (a
// file by content, an uploaded dataset by its version), and every model
// downstream carries them.
func TestLineage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "train.jsonl")
	content := []byte(`{"text":"a"}` + "\n")
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	ds := &store.Dataset{ID: store.NewID("ds"), Name: "eval.jsonl", Size: 3, SHA256: "cd", Format: "jsonl", BlobKey: "datasets/x/eval.jsonl",
		CreatedAt: time.Now().UTC(), Version: "sha256:cd"}
	if err := b.p.Store.InTx(ctx, func(tx store.Tx) error { return tx.CreateDataset(ctx, ds) }); err != nil {
		t.Fatal(err)
	}
	j := b.submit(t, `
name: lineage
nodes:
  - {id: a, agent: step, params: {source: "`+file+`"}}
  - {id: e, agent: step, params: {source: `+ds.ID+`}}
  - {id: b, agent: other}
edges: [{from: a, to: b}, {from: e, to: b}]
`)
	j = b.wait(t, j.ID, 30*time.Second)
	if j.Status != store.Succeeded {
		t.Fatalf("job %s: %s", j.Status, j.Error)
	}
	fileV := store.DatasetVersion{Source: file, Name: "train.jsonl", Version: "sha256:" + hex.EncodeToString(sum[:])}
	upV := store.DatasetVersion{ID: ds.ID, Name: ds.Name, Version: ds.Version}
	if !cmp.Equal(j.Datasets, []store.DatasetVersion{fileV, upV}) && !cmp.Equal(j.Datasets, []store.DatasetVersion{upV, fileV}) {
		t.Errorf("job datasets = %+v", j.Datasets)
	}
	models, _, err := b.p.Store.ListModels(ctx, store.ListParams{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range models {
		if m.JobID != j.ID || m.NodeID != "b" {
			continue
		}
		found = true
		if m.Lineage == nil || len(m.Lineage.Datasets) != 2 {
			t.Errorf("model of b: lineage %+v, want both datasets", m.Lineage)
		}
	}
	if !found {
		t.Error("no model of node b")
	}
}
