package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/whetstone/whetstone/internal/store"
)

// runLineage checks dataset versions with their profile and sample, the
// dataset versions a job read, and a model's lineage with its chain.
func runLineage(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("Lineage", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		now := time.Now().UTC().Truncate(time.Microsecond)
		d := &store.Dataset{ID: store.NewID("ds"), Name: "d.jsonl", Team: store.DefaultTeam, Size: 10, SHA256: "ab", Format: "jsonl",
			BlobKey: "datasets/x", CreatedAt: now, Version: "sha256:ab",
			Profile: json.RawMessage(`{"rows":2,"format":"messages","source_format":"sharegpt","columns":[{"name":"conversations","types":{"array":2}}]}`),
			Sample:  json.RawMessage(`[{"messages":[{"role":"user","content":"a"}]}]`)}
		j := &store.Job{ID: store.NewID("job"), Name: "p", Status: store.Pending, Spec: json.RawMessage(`{}`), CreatedAt: now,
			Nodes: []*store.Node{{ID: "a", Agent: "a", MaxAttempts: 1}}}
		v1 := store.DatasetVersion{ID: d.ID, Name: d.Name, Version: d.Version}
		v2 := store.DatasetVersion{Source: "data/eval.jsonl", Version: "sha256:cd"}
		m := &store.Model{ID: store.NewID("mdl"), Name: "m", Team: store.DefaultTeam, JobID: j.ID, NodeID: "a", Output: "model", URI: "m/",
			Files: []string{}, Meta: map[string]any{}, CreatedAt: now, Lineage: &store.Lineage{BaseModel: "mdl_parent", BaseModelVersion: "sha256:ef", Datasets: []store.DatasetVersion{v1, v2},
				// the chain back to the original base, kept in order with every field
				Chain: []store.Ancestor{{BaseModel: "base", Version: "sha256:01"},
					{ModelID: "mdl_grandparent", Name: "g/t/model", Version: "sha256:02", JobID: "job_g", Datasets: []store.DatasetVersion{v2}},
					{ModelID: "mdl_parent", Name: "p/t/model", Version: "sha256:ef", JobID: "job_p", Datasets: []store.DatasetVersion{v1}}}}}
		if err := s.InTx(ctx, func(tx store.Tx) error {
			if err := tx.CreateDataset(ctx, d); err != nil {
				return err
			}
			if err := tx.CreateJob(ctx, j); err != nil {
				return err
			}
			if got, err := tx.GetJob(ctx, j.ID); err != nil || got.Datasets == nil || len(got.Datasets) != 0 {
				t.Errorf("new job datasets = %#v, %v; want empty, not nil", got.Datasets, err)
			}
			if err := tx.AddJobDatasets(ctx, j.ID, []store.DatasetVersion{v1}); err != nil {
				return err
			}
			// again, with one more: kept once each, in order
			if err := tx.AddJobDatasets(ctx, j.ID, []store.DatasetVersion{v2, v1}); err != nil {
				return err
			}
			return tx.CreateModel(ctx, m)
		}); err != nil {
			t.Fatal(err)
		}
		gd, err := s.GetDataset(ctx, d.ID)
		if err != nil || !cmp.Equal(gd, d) {
			t.Errorf("GetDataset (-want +got) %s %v", cmp.Diff(d, gd), err)
		}
		ld, _, err := s.ListDatasets(ctx, store.ListParams{})
		if err != nil || len(ld) != 1 || ld[0].Version != d.Version || ld[0].Profile != nil || ld[0].Sample != nil {
			t.Errorf("ListDatasets = %+v %v; want the version without profile and sample", ld, err)
		}
		// the list's summary: the detected format (not the file's type), rows, column names
		wantSum := &store.DatasetSummary{Rows: 2, Format: "sharegpt", Columns: []string{"conversations"}}
		if len(ld) == 1 && !cmp.Equal(ld[0].Summary, wantSum) {
			t.Errorf("ListDatasets summary (-want +got):\n%s", cmp.Diff(wantSum, ld[0].Summary))
		}
		gj, err := s.GetJob(ctx, j.ID)
		if err != nil || !cmp.Equal(gj.Datasets, []store.DatasetVersion{v1, v2}) {
			t.Errorf("job datasets = %+v %v", gj.Datasets, err)
		}
		lj, _, err := s.ListJobs(ctx, store.ListParams{})
		if err != nil || len(lj) != 1 || len(lj[0].Datasets) != 2 {
			t.Errorf("ListJobs = %+v %v", lj, err)
		}
		gm, err := s.GetModel(ctx, m.ID)
		if err != nil || !cmp.Equal(gm, m) {
			t.Errorf("GetModel (-want +got) %s %v", cmp.Diff(m, gm), err)
		}
		err = s.InTx(ctx, func(tx store.Tx) error { return tx.AddJobDatasets(ctx, "job_nope", []store.DatasetVersion{v1}) })
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AddJobDatasets of a missing job: %v, want ErrNotFound", err)
		}
	})
}
