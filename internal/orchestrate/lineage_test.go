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

// TestLineageChain: a model fine-tuned from a registered model that was
// itself fine-tuned records its whole chain, oldest first: the original
// base folder by name and version, then each registered model with its
// name, job, version and the datasets its job read; a model downstream in
// the job inherits it. Lineage recorded before chains (a registered base
// without one) is followed back through the store, and a base the store
// does not have ends the chain with its id alone.
func TestLineageChain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	write("tiny-base/config.json", `{"model_type":"llama"}`)
	write("tiny-base/model.safetensors", "original weights")
	rootVersion := "sha256:" + sum("config.json "+sum(`{"model_type":"llama"}`)+"\n"+"model.safetensors "+sum("original weights")+"\n")
	// a model of the step agent holds model.safetensors with its weights param
	weightsVersion := func(w string) string { return "sha256:" + sum("model.safetensors "+sum(w)+"\n") }
	data := func(name string) (string, store.DatasetVersion) {
		p := write(name, `{"text":"`+name+`"}`+"\n")
		return p, store.DatasetVersion{Source: p, Name: name, Version: "sha256:" + sum(`{"text":"`+name+`"}`+"\n")}
	}
	run := func(name, base, weights, source string) *store.Job {
		t.Helper()
		j := b.wait(t, b.submit(t, `
name: `+name+`
nodes:
  - {id: t, agent: step, params: {base_model: "`+base+`", weights: "`+weights+`", source: "`+source+`"}}
  - {id: x, agent: other}
edges: [{from: t, to: x}]
`).ID, 30*time.Second)
		if j.Status != store.Succeeded {
			t.Fatalf("job %s %s: %s", name, j.Status, j.Error)
		}
		return j
	}
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

	d0, v0 := data("d0.jsonl")
	j0 := run("gen0", filepath.Join(dir, "tiny-base"), "w0", d0)
	m0 := modelOf(j0.ID, "t")
	d1, v1 := data("d1.jsonl")
	j1 := run("gen1", m0.ID, "w1", d1)
	m1 := modelOf(j1.ID, "t")
	d2, v2 := data("d2.jsonl")
	j2 := run("gen2", m1.ID, "w2", d2)

	root := store.Ancestor{BaseModel: "tiny-base", Version: rootVersion}
	a0 := store.Ancestor{ModelID: m0.ID, Name: m0.Name, Version: weightsVersion("w0"), JobID: j0.ID, Datasets: []store.DatasetVersion{v0}}
	a1 := store.Ancestor{ModelID: m1.ID, Name: m1.Name, Version: weightsVersion("w1"), JobID: j1.ID, Datasets: []store.DatasetVersion{v1}}
	tests := []struct {
		name string
		job  *store.Job
		want store.Lineage
	}{
		{"folder base", j0, store.Lineage{BaseModel: "tiny-base", BaseModelVersion: rootVersion, Datasets: []store.DatasetVersion{v0},
			Chain: []store.Ancestor{root}}},
		{"registered base", j1, store.Lineage{BaseModel: m0.ID, BaseModelVersion: weightsVersion("w0"), Datasets: []store.DatasetVersion{v1},
			Chain: []store.Ancestor{root, a0}}},
		{"registered base of a registered base", j2, store.Lineage{BaseModel: m1.ID, BaseModelVersion: weightsVersion("w1"), Datasets: []store.DatasetVersion{v2},
			Chain: []store.Ancestor{root, a0, a1}}},
	}
	for _, tt := range tests {
		for _, n := range []string{"t", "x"} {
			if got := modelOf(tt.job.ID, n).Lineage; !cmp.Equal(got, &tt.want) {
				t.Errorf("%s: lineage of node %s (-want +got):\n%s", tt.name, n, cmp.Diff(&tt.want, got))
			}
		}
	}

	// A registered model whose lineage was recorded before chains, on m1:
	// the chain is rebuilt from the store.
	old := &store.Model{ID: store.NewID("mdl"), Name: "old/t/model", Team: store.DefaultTeam, JobID: "job_old", NodeID: "t", Output: "model",
		URI: "old/model/", Files: []string{}, CreatedAt: time.Now().UTC(),
		Meta:    map[string]any{"files": []any{map[string]any{"path": "model.safetensors", "sha256": sum("old weights")}}},
		Lineage: &store.Lineage{BaseModel: m1.ID, BaseModelVersion: weightsVersion("w1"), Datasets: []store.DatasetVersion{}}}
	if err := b.p.Store.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, old) }); err != nil {
		t.Fatal(err)
	}
	j3 := run("gen3", old.ID, "w3", d2)
	aOld := store.Ancestor{ModelID: old.ID, Name: old.Name, Version: weightsVersion("old weights"), JobID: "job_old"} // no datasets: none in JSON
	want := []store.Ancestor{root, a0, a1, aOld}
	if got := modelOf(j3.ID, "t").Lineage; got == nil || !cmp.Equal(got.Chain, want) {
		t.Errorf("chain through a model recorded before chains: lineage %+v, want chain %+v", got, want)
	}

	// A base the store does not have: its id alone.
	j4 := run("gen4", "mdl_nosuchmodel", "w4", d2)
	want = []store.Ancestor{{ModelID: "mdl_nosuchmodel"}}
	if got := modelOf(j4.ID, "t").Lineage; got == nil || !cmp.Equal(got.Chain, want) {
		t.Errorf("chain of an unknown base: lineage %+v, want chain %+v", got, want)
	}
}
