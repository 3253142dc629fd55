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

// TestLineageRegisteredBase: a model trained on a registered model
// (base_model: mdl_...) records the id and its content version, computed
// from the file sums the store recorded for that model (the same version
// its folder would have: config.json and top-level weight files), and a
// model downstream of it inherits both.
func TestLineageRegisteredBase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	modelOf := func(jobID, nodeID string) *store.Model {
		t.Helper()
		models, _, err := b.p.Store.ListModels(ctx, store.ListParams{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range models {
			if m.JobID == jobID && m.NodeID == nodeID {
				return m
			}
		}
		t.Fatalf("no model of job %s node %s", jobID, nodeID)
		return nil
	}
	j := b.wait(t, b.submit(t, `
name: base
nodes: [{id: a, agent: step, params: {weights: "base weights"}}]
`).ID, 30*time.Second)
	if j.Status != store.Succeeded {
		t.Fatalf("base job %s: %s", j.Status, j.Error)
	}
	base := modelOf(j.ID, "a")
	// The folder holds sub/w.bin (not at the top: not part of the version)
	// and model.safetensors.
	w := sha256.Sum256([]byte("base weights"))
	listing := sha256.Sum256([]byte("model.safetensors " + hex.EncodeToString(w[:]) + "\n"))
	want := "sha256:" + hex.EncodeToString(listing[:])

	j = b.wait(t, b.submit(t, `
name: tuned
nodes:
  - {id: t, agent: step, params: {base_model: `+base.ID+`}}
  - {id: x, agent: other}
edges: [{from: t, to: x}]
`).ID, 30*time.Second)
	if j.Status != store.Succeeded {
		t.Fatalf("tuned job %s: %s", j.Status, j.Error)
	}
	for _, n := range []string{"t", "x"} {
		m := modelOf(j.ID, n)
		if m.Lineage == nil || m.Lineage.BaseModel != base.ID || m.Lineage.BaseModelVersion != want {
			t.Errorf("model of node %s: lineage %+v, want base_model %s, base_model_version %s", n, m.Lineage, base.ID, want)
		}
	}

	// An id that names no model of the team: the id, no version.
	j = b.wait(t, b.submit(t, `
name: unknown
nodes: [{id: t, agent: step, params: {base_model: mdl_nosuchmodel}}]
`).ID, 30*time.Second)
	if j.Status != store.Succeeded {
		t.Fatalf("unknown-base job %s: %s", j.Status, j.Error)
	}
	if l := modelOf(j.ID, "t").Lineage; l == nil || l.BaseModel != "mdl_nosuchmodel" || l.BaseModelVersion != "" {
		t.Errorf("lineage with an unknown base: %+v, want the id without a version", l)
	}
}
