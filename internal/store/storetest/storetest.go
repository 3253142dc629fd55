// Package storetest is the contract every store.Store must pass.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/store"
)

// Run checks what every store.Store must do. open returns a fresh, empty store.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	newJob := func(t *testing.T, s store.Store, nodes ...string) *store.Job {
		t.Helper()
		j := &store.Job{ID: store.NewID("job"), Name: "p", Status: store.Pending, Spec: json.RawMessage(`{}`), CreatedAt: time.Now().UTC()}
		for i, n := range nodes {
			nd := &store.Node{ID: n, Agent: "a", Params: map[string]any{"i": float64(i)}, MaxAttempts: 3, Cache: true}
			if i > 0 {
				nd.Preds = []string{nodes[i-1]}
			}
			j.Nodes = append(j.Nodes, nd)
		}
		if err := s.InTx(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, j) }); err != nil {
			t.Fatal(err)
		}
		return j
	}
	tx := func(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
		t.Helper()
		if err := s.InTx(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("JobRoundTrip", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		j := newJob(t, s, "a", "b", "c")
		got, err := s.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "p" || got.Status != store.Pending || len(got.Nodes) != 3 || got.StartedAt != nil {
			t.Fatalf("GetJob = %+v", got)
		}
		if got.Nodes[1].ID != "b" || !cmp.Equal(got.Nodes[1].Preds, []string{"a"}) || got.Nodes[2].Params["i"] != float64(2) || got.Nodes[0].MaxAttempts != 3 {
			t.Errorf("nodes = %+v %+v", got.Nodes[1], got.Nodes[2])
		}
		if _, err := s.GetJob(ctx, "job_nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetJob missing: %v", err)
		}
		err = s.InTx(ctx, func(tx store.Tx) error { return tx.CreateJob(ctx, j) })
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateJob twice: %v, want ErrConflict", err)
		}
	})

	t.Run("ListJobs", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		var ids []string
		for range 5 {
			ids = append(ids, newJob(t, s, "a").ID)
			time.Sleep(2 * time.Millisecond)
		}
		tx(t, s, func(tx store.Tx) error {
			_, err := tx.SetJobStatus(ctx, ids[1], store.Failed, "x", time.Now())
			return err
		})
		l, total, err := s.ListJobs(ctx, store.ListParams{Limit: 2, Offset: 1})
		if err != nil {
			t.Fatal(err)
		}
		if total != 5 || len(l) != 2 || l[0].ID != ids[3] || l[1].ID != ids[2] {
			t.Errorf("ListJobs page = %d total, %v", total, l)
		}
		l, total, _ = s.ListJobs(ctx, store.ListParams{Status: store.Failed})
		if total != 1 || len(l) != 1 || l[0].ID != ids[1] || l[0].Error != "x" {
			t.Errorf("ListJobs failed = %d, %v", total, l)
		}
		act, _ := s.ActiveJobs(ctx)
		if len(act) != 4 {
			t.Errorf("ActiveJobs = %v", act)
		}
	})

	t.Run("JobStatusIsSticky", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		j := newJob(t, s, "a")
		var got []bool
		tx(t, s, func(tx store.Tx) error {
			for _, st := range []store.Status{store.Running, store.Running, store.Cancelled, store.Succeeded, store.Running} {
				ok, err := tx.SetJobStatus(ctx, j.ID, st, "", time.Now())
				if err != nil {
					return err
				}
				got = append(got, ok)
			}
			return nil
		})
		if !cmp.Equal(got, []bool{true, false, true, false, false}) {
			t.Errorf("transitions = %v", got)
		}
		g, _ := s.GetJob(ctx, j.ID)
		if g.Status != store.Cancelled || g.StartedAt == nil || g.FinishedAt == nil {
			t.Errorf("job = %+v", g)
		}
	})

	t.Run("ClaimIsExclusive", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		j := newJob(t, s, "a")
		now := time.Now()
		var mu sync.Mutex
		var winners []string
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprint("w", i)
				err := s.InTx(ctx, func(tx store.Tx) error {
					_, ok, err := tx.ClaimNode(ctx, &store.ClaimParams{JobID: j.ID, NodeID: "a", Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute)})
					if ok {
						mu.Lock()
						winners = append(winners, owner)
						mu.Unlock()
					}
					return err
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("claim winners = %v, want exactly one", winners)
		}
		owner := winners[0]
		tx(t, s, func(tx store.Tx) error {
			if ok, _ := tx.RenewLease(ctx, j.ID, "a", "intruder", now.Add(time.Hour)); ok {
				t.Error("RenewLease by a non-owner succeeded")
			}
			if ok, _ := tx.RenewLease(ctx, j.ID, "a", owner, now.Add(time.Second)); !ok {
				t.Error("RenewLease by the owner failed")
			}
			// Expired lease: another worker takes over, attempts counts 2.
			later := now.Add(2 * time.Second)
			n, ok, err := tx.ClaimNode(ctx, &store.ClaimParams{JobID: j.ID, NodeID: "a", Owner: "w-new", Now: later, LeaseUntil: later.Add(time.Minute)})
			if err != nil || !ok || n.Attempts != 2 || n.LeaseOwner != "w-new" {
				t.Errorf("reclaim after expiry = %+v %v %v", n, ok, err)
			}
			if ok, _ := tx.FinishNode(ctx, &store.FinishNodeParams{JobID: j.ID, NodeID: "a", Owner: owner, Status: store.Succeeded, At: later}); ok {
				t.Error("FinishNode by the old owner succeeded")
			}
			outs := []agent.Artifact{{Type: agent.Dataset, Name: "d", URI: "k/d"}}
			if ok, _ := tx.FinishNode(ctx, &store.FinishNodeParams{JobID: j.ID, NodeID: "a", Owner: "w-new", Status: store.Succeeded, Outputs: outs, CacheKey: "ck", At: later}); !ok {
				t.Error("FinishNode by the owner failed")
			}
			n, ok, _ = tx.ClaimNode(ctx, &store.ClaimParams{JobID: j.ID, NodeID: "a", Owner: "late", Now: later, LeaseUntil: later})
			if ok || n.Status != store.Succeeded || n.Outputs[0].URI != "k/d" {
				t.Errorf("claim of a finished node = %+v %v", n, ok)
			}
			return nil
		})
	})

	t.Run("RetryReleaseCancel", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		j := newJob(t, s, "a", "b")
		now := time.Now()
		tx(t, s, func(tx store.Tx) error {
			tx.ClaimNode(ctx, &store.ClaimParams{JobID: j.ID, NodeID: "a", Owner: "w", Now: now, LeaseUntil: now.Add(time.Second)})
			if ok, _ := tx.RetryNode(ctx, j.ID, "a", "w", "flaky"); !ok {
				t.Error("RetryNode failed")
			}
			n, _ := tx.GetNode(ctx, j.ID, "a")
			if n.Status != store.Pending || n.Error != "flaky" || n.Attempts != 1 {
				t.Errorf("after retry: %+v", n)
			}
			tx.ClaimNode(ctx, &store.ClaimParams{JobID: j.ID, NodeID: "a", Owner: "w", Now: now, LeaseUntil: now.Add(time.Second)})
			refs, err := tx.ReleaseDead(ctx, now.Add(500*time.Millisecond), "")
			if err != nil || len(refs) != 0 {
				t.Errorf("ReleaseDead early = %v %v", refs, err)
			}
			refs, _ = tx.ReleaseDead(ctx, now.Add(2*time.Second), "")
			want := []store.Released{{NodeRef: store.NodeRef{JobID: j.ID, NodeID: "a"}, Attempts: 2, MaxAttempts: 3, Deaths: 1}}
			if !cmp.Equal(refs, want) {
				t.Errorf("ReleaseDead = %+v, want %+v", refs, want)
			}
			return nil
		})
		tx(t, s, func(tx store.Tx) error {
			// A restarted worker releases its own live-looking leases by
			// owner prefix, and nobody else's.
			tx.ClaimNode(ctx, &store.ClaimParams{JobID: j.ID, NodeID: "a", Owner: "host-1/old/x", Now: now, LeaseUntil: now.Add(time.Hour)})
			if refs, _ := tx.ReleaseDead(ctx, now, "host-2/"); len(refs) != 0 {
				t.Errorf("ReleaseDead by another prefix = %+v", refs)
			}
			refs, _ := tx.ReleaseDead(ctx, now, "host-1/")
			if len(refs) != 1 || refs[0].Deaths != 2 || refs[0].Attempts != 3 {
				t.Errorf("ReleaseDead by prefix = %+v", refs)
			}
			// A clean hand-back gives the claim's attempt back.
			n, ok, _ := tx.ClaimNode(ctx, &store.ClaimParams{JobID: j.ID, NodeID: "a", Owner: "w2", Now: now, LeaseUntil: now.Add(time.Hour)})
			if !ok || n.Attempts != 4 {
				t.Fatalf("claim = %+v %v", n, ok)
			}
			if ok, _ := tx.ReleaseNode(ctx, j.ID, "a", "intruder"); ok {
				t.Error("ReleaseNode by a non-owner succeeded")
			}
			if ok, _ := tx.ReleaseNode(ctx, j.ID, "a", "w2"); !ok {
				t.Error("ReleaseNode by the owner failed")
			}
			n, _ = tx.GetNode(ctx, j.ID, "a")
			if n.Status != store.Pending || n.Attempts != 3 || n.Deaths != 2 || n.LeaseOwner != "" {
				t.Errorf("after ReleaseNode: %+v", n)
			}
			if ok, _ := tx.MarkQueued(ctx, j.ID, "b"); !ok {
				t.Error("MarkQueued first failed")
			}
			if ok, _ := tx.MarkQueued(ctx, j.ID, "b"); ok {
				t.Error("MarkQueued second succeeded")
			}
			if err := tx.CancelNodes(ctx, j.ID, now); err != nil {
				return err
			}
			g, _ := tx.GetJob(ctx, j.ID)
			for _, n := range g.Nodes {
				if n.Status != store.Cancelled {
					t.Errorf("node %s after CancelNodes: %s", n.ID, n.Status)
				}
			}
			return nil
		})
	})

	t.Run("EventsAreTotallyOrdered", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		j := newJob(t, s, "a")
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range 25 {
					err := s.InTx(ctx, func(tx store.Tx) error {
						return tx.AppendEvent(ctx, &store.Event{JobID: j.ID, Type: "log", Node: "a", Data: json.RawMessage(fmt.Sprintf(`{"g":%d,"k":%d}`, i, k))})
					})
					if err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		evs, err := s.ListEvents(ctx, j.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 100 {
			t.Fatalf("%d events, want 100", len(evs))
		}
		for i, e := range evs {
			if e.Seq != int64(i+1) || e.Type != "log" || e.Node != "a" {
				t.Fatalf("event %d = %+v", i, e)
			}
		}
		evs, _ = s.ListEvents(ctx, j.ID, 97, 10)
		if len(evs) != 3 || evs[0].Seq != 98 {
			t.Errorf("ListEvents after 97 = %v", evs)
		}
		err = s.InTx(ctx, func(tx store.Tx) error { return tx.AppendEvent(ctx, &store.Event{JobID: "job_nope", Type: "log"}) })
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AppendEvent to a missing job: %v", err)
		}
		tx(t, s, func(tx store.Tx) error {
			if ok, err := tx.AppendActiveEvent(ctx, &store.Event{JobID: j.ID, Type: "log"}); !ok || err != nil {
				t.Errorf("AppendActiveEvent on a pending job = %v, %v", ok, err)
			}
			tx.SetJobStatus(ctx, j.ID, store.Cancelled, "", time.Now())
			if err := tx.AppendEvent(ctx, &store.Event{JobID: j.ID, Type: "status"}); err != nil {
				return err
			}
			if ok, err := tx.AppendActiveEvent(ctx, &store.Event{JobID: j.ID, Type: "log"}); ok || err != nil {
				t.Errorf("AppendActiveEvent on an ended job = %v, %v", ok, err)
			}
			return nil
		})
		if evs, _ := s.ListEvents(ctx, j.ID, 100, 0); len(evs) != 2 || evs[1].Type != "status" {
			t.Errorf("events after 100 = %+v", evs)
		}
	})

	t.Run("CacheDatasetsModels", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		outs := []agent.Artifact{{Type: agent.Report, Name: "r", URI: "x/r.json", Meta: map[string]any{"rows": float64(3)}}}
		d := &store.Dataset{ID: store.NewID("ds"), Name: "d.jsonl", Team: store.DefaultTeam, Size: 10, SHA256: "ab", Format: "jsonl", BlobKey: "datasets/x", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		m := &store.Model{ID: store.NewID("mdl"), Name: "m", Team: store.DefaultTeam, JobID: "j", NodeID: "n", Output: "model", URI: "m/", Size: 5, Files: []string{"a"}, Meta: map[string]any{"method": "lora"}, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		tx(t, s, func(tx store.Tx) error {
			if err := tx.PutCache(ctx, "", "k", outs); err != nil {
				return err
			}
			if err := tx.CreateDataset(ctx, d); err != nil {
				return err
			}
			return tx.CreateModel(ctx, m)
		})
		got, ok, err := s.GetCache(ctx, "", "k")
		if err != nil || !ok || !cmp.Equal(got, outs) {
			t.Errorf("GetCache = %v %v %v", got, ok, err)
		}
		if _, ok, _ := s.GetCache(ctx, "", "other"); ok {
			t.Error("GetCache of a missing key hit")
		}
		gd, err := s.GetDataset(ctx, d.ID)
		if err != nil || !cmp.Equal(gd, d) {
			t.Errorf("GetDataset = %+v %v", gd, err)
		}
		gm, err := s.GetModel(ctx, m.ID)
		if err != nil || !cmp.Equal(gm, m) {
			t.Errorf("GetModel (-want +got) %s %v", cmp.Diff(m, gm), err)
		}
		ld, n, _ := s.ListDatasets(ctx, store.ListParams{})
		lm, k, _ := s.ListModels(ctx, store.ListParams{})
		if n != 1 || len(ld) != 1 || k != 1 || len(lm) != 1 {
			t.Errorf("lists: %d %d", n, k)
		}
		if _, err := s.GetDataset(ctx, "ds_x"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetDataset missing: %v", err)
		}
		if _, err := s.GetModel(ctx, "m_x"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetModel missing: %v", err)
		}
	})

	t.Run("RollbackOnError", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		j := newJob(t, s, "a")
		boom := errors.New("boom")
		err := s.InTx(ctx, func(tx store.Tx) error {
			tx.AppendEvent(ctx, &store.Event{JobID: j.ID, Type: "log"})
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("InTx = %v", err)
		}
		if evs, _ := s.ListEvents(ctx, j.ID, 0, 0); len(evs) != 0 {
			t.Errorf("rolled-back event visible: %v", evs)
		}
		if err := s.Ping(ctx); err != nil {
			t.Error(err)
		}
	})

	runTeams(t, open)
	runRetention(t, open)
	runLineage(t, open)
	runDatasetOnce(t, open)
	runModelFilters(t, open)
	runModelKeyset(t, open)
	runDatasetFilters(t, open)
	runDeleteDataset(t, open)
}
