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
	st.InTx(ctx, func(tx store.Tx) error { return tx.CreateDataset(ctx, ds) })
	// Records whose blobs lie in folders that are not their ids (nor any
	// known job's): kept because the records name them. A dataset in an
	// expired job's folder, a model folder under a job that is gone, one
	// in checkpoints/, and the /v1 API's datasets (datasets/ftjob-…/,
	// datasets/playground/).
	named := []string{"jobs/" + expired + "/n/out/named.jsonl", "jobs/job_imported/n/out/adapter.bin", "checkpoints/kept/checkpoint-9/w",
		"datasets/ftjob-1/file-1.jsonl", "datasets/playground/default/evals/1.jsonl"}
	if err := st.InTx(ctx, func(tx store.Tx) error {
		for _, k := range []string{named[0], named[3], named[4]} {
			if err := tx.CreateDataset(ctx, &store.Dataset{ID: store.NewID("ds"), Name: "n.jsonl", BlobKey: k, CreatedAt: old}); err != nil {
				return err
			}
		}
		for _, uri := range []string{"jobs/job_imported/n/out/", "checkpoints/kept/checkpoint-9/"} {
			if err := tx.CreateModel(ctx, &store.Model{ID: store.NewID("mdl"), Name: "i", JobID: "job_imported", NodeID: "n", Output: "out", URI: uri, CreatedAt: old}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, k := range append([]string{ds.BlobKey, "jobs/job_gone/n/out/x", "datasets/ds_gone/x", "checkpoints/abc/checkpoint-5/w",
		"datasets/ftjob-1/file-2.jsonl", "jobs/job_imported/n/out2/x"}, named...) {
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
	wantOrphans := []string{"checkpoints/abc/checkpoint-5/w", "datasets/ds_gone/x", "datasets/ftjob-1/file-2.jsonl", "jobs/job_gone/n/out/x", "jobs/job_imported/n/out2/x"}
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
	if !slices.Equal(rep.Jobs, dry.Jobs) || len(rep.Blobs) != len(wantOrphans) {
		t.Errorf("run removed %v and %v; the dry run said %v and %v", rep.Jobs, rep.Blobs, dry.Jobs, dry.Blobs)
	}
	if _, err := st.GetJob(ctx, expired); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired job: %v", err)
	}
	if l, _ := blobs.List(ctx, "jobs/"+expired+"/"); len(l) != 1 || l[0].Key != named[0] {
		t.Errorf("expired job's blobs left: %v, want only the one a dataset names (%s)", l, named[0])
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
	for _, k := range append(append([]string{ds.BlobKey}, named...), wantOrphans...) {
		_, err := blobs.Stat(ctx, k)
		if kept, want := err == nil, !slices.Contains(wantOrphans, k); kept != want {
			t.Errorf("blob %s: kept %v, want %v", k, kept, want)
		}
	}
}
