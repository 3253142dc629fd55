package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/store"
)

// Pruner is what `whet gc` (internal/retention.Store) needs of a store; every
// backend must have it, so retention works on each.
type Pruner interface {
	ExpiredJobs(ctx context.Context, before time.Time) ([]string, error)
	DeleteJob(ctx context.Context, id string) error
	PruneEvents(ctx context.Context, before time.Time, dryRun bool) (int64, error)
	PruneCache(ctx context.Context, before time.Time, dryRun bool) (int64, error)
	BlobOwners(ctx context.Context) (jobs, datasets map[string]bool, err error)
	BlobRefs(ctx context.Context) ([]string, error)
}

func runRetention(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("Retention", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		p, ok := s.(Pruner)
		if !ok {
			t.Fatalf("%T has no retention methods (storetest.Pruner): whet gc cannot run on it", s)
		}
		now := time.Now().UTC()
		old := now.Add(-10 * 24 * time.Hour)
		job := func(status store.Status, at time.Time) string {
			t.Helper()
			j := &store.Job{ID: store.NewID("job"), Name: "p", Status: store.Pending, Spec: json.RawMessage(`{}`), CreatedAt: at}
			err := s.InTx(ctx, func(tx store.Tx) error {
				if err := tx.CreateJob(ctx, j); err != nil {
					return err
				}
				if _, err := tx.SetJobStatus(ctx, j.ID, status, "", at); err != nil {
					return err
				}
				for range 3 {
					if err := tx.AppendEvent(ctx, &store.Event{JobID: j.ID, Type: "log", Data: json.RawMessage(`{"msg":"x"}`)}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return j.ID
		}
		expired := job(store.Succeeded, old)
		withModel := job(store.Cancelled, old)
		recent := job(store.Failed, now)
		running := job(store.Running, old)
		ds := &store.Dataset{ID: store.NewID("ds"), Name: "d.jsonl", BlobKey: "datasets/x/d.jsonl", CreatedAt: old}
		if err := s.InTx(ctx, func(tx store.Tx) error {
			if err := tx.CreateModel(ctx, &store.Model{ID: store.NewID("mdl"), Name: "m", JobID: withModel, NodeID: "n", Output: "out",
				URI: "jobs/" + withModel + "/n/out/", CreatedAt: old}); err != nil {
				return err
			}
			if err := tx.CreateDataset(ctx, ds); err != nil {
				return err
			}
			return tx.PutCache(ctx, "", "k1", []agent.Artifact{{Type: agent.Report, Name: "r", URI: "jobs/x/"}})
		}); err != nil {
			t.Fatal(err)
		}

		ids, err := p.ExpiredJobs(ctx, now.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, []string{expired}) {
			t.Errorf("ExpiredJobs = %v, want only %s (not the one with a model, the recent or the running one)", ids, expired)
		}
		jobs, datasets, err := p.BlobOwners(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{expired, withModel, recent, running} {
			if !jobs[id] {
				t.Errorf("BlobOwners jobs lacks %s: %v", id, jobs)
			}
		}
		if len(jobs) != 4 || len(datasets) != 1 || !datasets[ds.ID] {
			t.Errorf("BlobOwners = %v, %v", jobs, datasets)
		}
		// The keys the records name, whatever folder they lie in (this
		// dataset's is not its id).
		refs, err := p.BlobRefs(ctx)
		slices.Sort(refs)
		if want := []string{ds.BlobKey, "jobs/" + withModel + "/n/out/"}; err != nil || !slices.Equal(refs, want) {
			t.Errorf("BlobRefs = %v, %v; want %v", refs, err, want)
		}

		// Events of the two old ended jobs: counted by the dry run, then removed.
		for _, dry := range []bool{true, false} {
			n, err := p.PruneEvents(ctx, now.Add(-24*time.Hour), dry)
			if err != nil || n != 6 {
				t.Errorf("PruneEvents(dry=%v) = %d, %v; want 6", dry, n, err)
			}
		}
		for id, want := range map[string]int{expired: 0, withModel: 0, recent: 3, running: 3} {
			if evs, err := s.ListEvents(ctx, id, 0, 0); err != nil || len(evs) != want {
				t.Errorf("job %s: %d events left (%v), want %d", id, len(evs), err, want)
			}
		}
		if j, err := s.GetJob(ctx, withModel); err != nil || j.Status != store.Cancelled {
			t.Errorf("PruneEvents touched the job: %v %v", j, err)
		}

		// Cache entries: none created before an hour ago; the one just made
		// counts before a minute from now.
		if n, err := p.PruneCache(ctx, now.Add(-time.Hour), false); err != nil || n != 0 {
			t.Errorf("PruneCache(an hour ago) = %d, %v; want 0", n, err)
		}
		for _, dry := range []bool{true, false} {
			if n, err := p.PruneCache(ctx, time.Now().Add(time.Minute), dry); err != nil || n != 1 {
				t.Errorf("PruneCache(dry=%v) = %d, %v; want 1", dry, n, err)
			}
		}
		if _, ok, err := s.GetCache(ctx, "", "k1"); ok || err != nil {
			t.Errorf("pruned cache entry: found %v, %v", ok, err)
		}

		if err := p.DeleteJob(ctx, expired); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetJob(ctx, expired); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted job: %v", err)
		}
		if evs, _ := s.ListEvents(ctx, recent, 0, 0); len(evs) != 3 {
			t.Errorf("DeleteJob removed another job's events: %d left", len(evs))
		}
		jobs, _, _ = p.BlobOwners(ctx)
		if jobs[expired] || len(jobs) != 3 {
			t.Errorf("BlobOwners after DeleteJob = %v", jobs)
		}
	})
}
