package retention_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/blob/fsblob"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/retention"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/store/pgstore"
	"github.com/whetstone/whetstone/internal/store/pgstore/pgtest"
	"github.com/whetstone/whetstone/internal/store/sqlitestore"
)

func TestPolicy(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "whet.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		policy(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		st, err := pgstore.Open(context.Background(), pgtest.NewSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		policy(t, st)
	})
}

func policy(t *testing.T, st store.Store) {
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := fsblob.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	old := now.Add(-10 * 24 * time.Hour)
	job := func(status store.Status, at time.Time) string {
		j := &store.Job{ID: store.NewID("job"), Name: "p", Status: store.Pending, Spec: []byte(`{}`), CreatedAt: at}
		err := st.InTx(ctx, func(tx store.Tx) error {
			if err := tx.CreateJob(ctx, j); err != nil {
				return err
			}
			if _, err := tx.SetJobStatus(ctx, j.ID, status, "", at); err != nil {
				return err
			}
			for range 3 {
				if err := tx.AppendEvent(ctx, events.New(j.ID, "n", events.Log, events.LogData{Msg: "x"})); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := blobs.Put(ctx, "jobs/"+j.ID+"/n/out/f.txt", strings.NewReader(j.ID)); err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	expired := job(store.Succeeded, old)
	withModel := job(store.Succeeded, old)
	recent := job(store.Failed, now)
	running := job(store.Running, old)
	st.InTx(ctx, func(tx store.Tx) error {
		return tx.CreateModel(ctx, &store.Model{ID: store.NewID("mdl"), Name: "m", JobID: withModel, NodeID: "n", Output: "out",
			URI: "jobs/" + withModel + "/n/out/", CreatedAt: old})
	})
	if err := st.InTx(ctx, func(tx store.Tx) error {
		return tx.PutCache(ctx, "", "k1", []agent.Artifact{{Type: agent.Report, Name: "r", URI: "jobs/x/"}})
	}); err != nil {
		t.Fatal(err)
	}
	ds := &store.Dataset{ID: store.NewID("ds"), Name: "d.jsonl", BlobKey: "datasets/kept/d.jsonl", CreatedAt: old}
	ds.BlobKey = "datasets/" + ds.ID + "/d.jsonl"
	// Datasets whose blob is not under their id's folder: a fine-tuning
	// file the OpenAI API converted, and a playground sample set.
	ft := &store.Dataset{ID: store.NewID("ds"), Name: "train.jsonl", BlobKey: "datasets/ftjob-abc/file-x.jsonl", CreatedAt: old}
	pg := &store.Dataset{ID: store.NewID("ds"), Name: "evals.jsonl", BlobKey: "datasets/playground/default/evals/1.jsonl", CreatedAt: old}
	st.InTx(ctx, func(tx store.Tx) error {
		for _, d := range []*store.Dataset{ds, ft, pg} {
			if err := tx.CreateDataset(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	kept := []string{ds.BlobKey, ft.BlobKey, pg.BlobKey}
	for _, k := range append(slices.Clone(kept), "jobs/job_gone/n/out/x", "datasets/ds_gone/x", "checkpoints/abc/checkpoint-5/w") {
		if _, err := blobs.Put(ctx, k, strings.NewReader("data")); err != nil {
			t.Fatal(err)
		}
	}

	// Blobs written just now count as 2 days old when gc runs "in 2 days".
	pol, _ := config.ParseRetain("jobs=7d,events=7d,cache=1d,blobs=1d")
	later := now.Add(48 * time.Hour)
	dry, err := retention.Run(ctx, st, blobs, nil, pol, later, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dry.Jobs, []string{expired}) {
		t.Errorf("dry run jobs %v, want only %s (not the one with a model, the recent or the running one)", dry.Jobs, expired)
	}
	wantOrphans := []string{"checkpoints/abc/checkpoint-5/w", "datasets/ds_gone/x", "jobs/job_gone/n/out/x"}
	slices.Sort(dry.Blobs)
	if !slices.Equal(dry.Blobs, wantOrphans) {
		t.Errorf("dry run orphans %v, want %v", dry.Blobs, wantOrphans)
	}
	if dry.Events != 6 || dry.CacheEntries != 1 {
		t.Errorf("dry run: %d events (want 6: the two old ended jobs'), %d cache entries (want 1)", dry.Events, dry.CacheEntries)
	}
	if _, err := st.GetJob(ctx, expired); err != nil {
		t.Fatalf("dry run removed a job: %v", err)
	}
	if _, err := blobs.Stat(ctx, "jobs/job_gone/n/out/x"); err != nil {
		t.Fatalf("dry run removed a blob: %v", err)
	}

	rep, err := retention.Run(ctx, st, blobs, nil, pol, later, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Jobs, dry.Jobs) || len(rep.Blobs) != 3 {
		t.Errorf("run removed %v and %v; the dry run said %v and %v", rep.Jobs, rep.Blobs, dry.Jobs, dry.Blobs)
	}
	if _, err := st.GetJob(ctx, expired); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired job: %v", err)
	}
	if l, _ := blobs.List(ctx, "jobs/"+expired+"/"); len(l) != 0 {
		t.Errorf("expired job's blobs left: %v", l)
	}
	for _, id := range []string{withModel, recent, running} {
		if _, err := st.GetJob(ctx, id); err != nil {
			t.Errorf("job %s removed: %v", id, err)
		}
		if _, err := blobs.Stat(ctx, "jobs/"+id+"/n/out/f.txt"); err != nil {
			t.Errorf("blob of kept job %s removed: %v", id, err)
		}
	}
	if evs, _ := st.ListEvents(ctx, withModel, 0, 10); len(evs) != 0 {
		t.Errorf("old events kept: %d", len(evs))
	}
	if evs, _ := st.ListEvents(ctx, recent, 0, 10); len(evs) != 3 {
		t.Errorf("recent events removed: %d left", len(evs))
	}
	if _, ok, _ := st.GetCache(ctx, "", "k1"); ok {
		t.Error("old cache entry kept")
	}
	for _, k := range append(slices.Clone(kept), wantOrphans...) {
		_, err := blobs.Stat(ctx, k)
		if ok := err == nil; ok != slices.Contains(kept, k) {
			t.Errorf("blob %s: kept %v", k, ok)
		}
	}
}
