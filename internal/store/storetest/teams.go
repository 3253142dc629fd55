package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/store"
)

// jobJSONer is the optional fast read of a job as JSON (sqlitestore has it).
type jobJSONer interface {
	GetJobJSON(ctx context.Context, id string) ([]byte, error)
}

// runTeams checks team scoping, API keys and the audit log.
func runTeams(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	mustTx := func(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
		t.Helper()
		if err := s.InTx(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("TeamScoping", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		now := time.Now().UTC().Truncate(time.Microsecond)
		jobs := map[string]*store.Job{}
		for _, team := range []string{"red", "blue", ""} {
			j := &store.Job{ID: store.NewID("job"), Name: "p", Team: team, Status: store.Pending, Spec: json.RawMessage(`{}`), CreatedAt: now,
				Nodes: []*store.Node{{ID: "a", Agent: "a", Params: map[string]any{}, MaxAttempts: 1}}}
			jobs[store.TeamOr(team)] = j
			mustTx(t, s, func(tx store.Tx) error {
				if err := tx.CreateJob(ctx, j); err != nil {
					return err
				}
				if err := tx.AppendEvent(ctx, &store.Event{JobID: j.ID, Type: "log", Data: json.RawMessage(`{"m":1}`)}); err != nil {
					return err
				}
				if err := tx.PutCache(ctx, team, "same-key", []agent.Artifact{{Type: agent.Report, Name: store.TeamOr(team), URI: "u"}}); err != nil {
					return err
				}
				if err := tx.CreateDataset(ctx, &store.Dataset{ID: store.NewID("ds"), Name: "d", Team: team, Size: 100, Format: "jsonl", BlobKey: "k", CreatedAt: now}); err != nil {
					return err
				}
				return tx.CreateModel(ctx, &store.Model{ID: store.NewID("mdl"), Name: "m", Team: team, JobID: j.ID, NodeID: "a", Output: "model", URI: "m/", Size: 10, CreatedAt: now})
			})
		}
		if g, err := s.GetJob(ctx, jobs["red"].ID); err != nil || g.Team != "red" {
			t.Fatalf("unscoped GetJob = %+v, %v", g, err)
		}
		if g, _ := s.GetJob(ctx, jobs["default"].ID); g.Team != store.DefaultTeam {
			t.Errorf("job created with team \"\" has team %q, want %q", g.Team, store.DefaultTeam)
		}
		red, blue := s.ForTeam("red"), s.ForTeam("blue")
		// Own rows are visible.
		if g, err := red.GetJob(ctx, jobs["red"].ID); err != nil || g.Team != "red" || len(g.Nodes) != 1 {
			t.Errorf("red GetJob own = %+v, %v", g, err)
		}
		// Another team's rows are ErrNotFound, absent from lists and counts.
		other := jobs["blue"].ID
		if _, err := red.GetJob(ctx, other); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("red GetJob(blue's) = %v, want ErrNotFound", err)
		}
		if _, err := red.GetNode(ctx, other, "a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("red GetNode(blue's) = %v, want ErrNotFound", err)
		}
		if evs, err := red.ListEvents(ctx, other, 0, 0); err != nil || len(evs) != 0 {
			t.Errorf("red ListEvents(blue's) = %v, %v; want none", evs, err)
		}
		if evs, err := blue.ListEvents(ctx, other, 0, 0); err != nil || len(evs) != 1 {
			t.Errorf("blue ListEvents(own) = %v, %v; want 1", evs, err)
		}
		if js, ok := red.(jobJSONer); ok {
			if _, err := js.GetJobJSON(ctx, other); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("red GetJobJSON(blue's) = %v, want ErrNotFound", err)
			}
			b, err := js.GetJobJSON(ctx, jobs["red"].ID)
			var g store.Job
			if err != nil || json.Unmarshal(b, &g) != nil || g.Team != "red" {
				t.Errorf("red GetJobJSON(own) = %s, %v", b, err)
			}
		}
		l, n, err := red.ListJobs(ctx, store.ListParams{})
		if err != nil || n != 1 || len(l) != 1 || l[0].ID != jobs["red"].ID {
			t.Errorf("red ListJobs = %v (%d), %v", l, n, err)
		}
		if _, n, _ := s.ListJobs(ctx, store.ListParams{}); n != 3 {
			t.Errorf("unscoped ListJobs total = %d, want 3", n)
		}
		if _, n, _ := red.ListJobs(ctx, store.ListParams{Status: store.Pending}); n != 1 {
			t.Errorf("red ListJobs pending total = %d, want 1", n)
		}
		if act, _ := red.ActiveJobs(ctx); len(act) != 1 || act[0] != jobs["red"].ID {
			t.Errorf("red ActiveJobs = %v", act)
		}
		ds, n, _ := red.ListDatasets(ctx, store.ListParams{})
		if n != 1 || len(ds) != 1 || ds[0].Team != "red" {
			t.Errorf("red ListDatasets = %v (%d)", ds, n)
		}
		bds, _, _ := blue.ListDatasets(ctx, store.ListParams{})
		if _, err := red.GetDataset(ctx, bds[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("red GetDataset(blue's) = %v", err)
		}
		if _, err := blue.GetDataset(ctx, bds[0].ID); err != nil {
			t.Errorf("blue GetDataset(own) = %v", err)
		}
		ms, n, _ := blue.ListModels(ctx, store.ListParams{})
		if n != 1 || len(ms) != 1 || ms[0].Team != "blue" {
			t.Errorf("blue ListModels = %v (%d)", ms, n)
		}
		if _, err := red.GetModel(ctx, ms[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("red GetModel(blue's) = %v", err)
		}
		// The cache: the same key, one entry per team.
		if got, ok, err := red.GetCache(ctx, "red", "same-key"); err != nil || !ok || got[0].Name != "red" {
			t.Errorf("red GetCache = %v %v %v", got, ok, err)
		}
		if got, ok, _ := s.GetCache(ctx, "", "same-key"); !ok || got[0].Name != store.DefaultTeam {
			t.Errorf("default GetCache = %v %v", got, ok)
		}
		if _, ok, _ := red.GetCache(ctx, "blue", "same-key"); ok {
			t.Error("red reader read blue's cache")
		}
		// Stored bytes: a dataset (100) and a model (10) per team.
		if b, err := red.StoredBytes(ctx); err != nil || b != 110 {
			t.Errorf("red StoredBytes = %d, %v; want 110", b, err)
		}
		if b, _ := s.StoredBytes(ctx); b != 330 {
			t.Errorf("StoredBytes = %d, want 330", b)
		}
		if b, _ := s.ForTeam("nobody").StoredBytes(ctx); b != 0 {
			t.Errorf("empty team StoredBytes = %d", b)
		}
	})

	t.Run("Keys", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		now := time.Now().UTC().Truncate(time.Microsecond)
		exp := now.Add(time.Hour)
		k1 := &store.Key{ID: store.NewID("key"), Name: "ci", Team: "red", Role: store.RoleMember, Hash: "h1", CreatedAt: now, ExpiresAt: &exp}
		k2 := &store.Key{ID: store.NewID("key"), Name: "", Team: "blue", Role: store.RoleViewer, Hash: "h2", CreatedAt: now.Add(time.Millisecond)}
		for _, k := range []*store.Key{k1, k2} {
			if err := s.CreateKey(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		dup := *k1
		dup.ID = store.NewID("key")
		if err := s.CreateKey(ctx, &dup); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateKey same hash = %v, want ErrConflict", err)
		}
		got, err := s.KeyByHash(ctx, "h1")
		if err != nil || !cmp.Equal(got, k1) {
			t.Errorf("KeyByHash (-want +got) %s %v", cmp.Diff(k1, got), err)
		}
		if _, err := s.KeyByHash(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("KeyByHash missing = %v", err)
		}
		if l, n, _ := s.ListKeys(ctx, "", store.ListParams{}); n != 2 || len(l) != 2 || l[0].ID != k2.ID {
			t.Errorf("ListKeys all = %v (%d)", l, n)
		}
		if l, n, _ := s.ListKeys(ctx, "red", store.ListParams{}); n != 1 || l[0].ID != k1.ID {
			t.Errorf("ListKeys red = %v (%d)", l, n)
		}
		used := now.Add(time.Minute)
		if err := s.TouchKey(ctx, k1.ID, used); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeKey(ctx, "blue", k1.ID, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeKey in another team = %v, want ErrNotFound", err)
		}
		if err := s.RevokeKey(ctx, "", "key_nope", now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeKey missing = %v, want ErrNotFound", err)
		}
		if err := s.RevokeKey(ctx, "red", k1.ID, now); err != nil {
			t.Fatal(err)
		}
		got, _ = s.KeyByHash(ctx, "h1")
		if got.RevokedAt == nil || !got.RevokedAt.Equal(now) || got.LastUsedAt == nil || !got.LastUsedAt.Equal(used) {
			t.Errorf("after touch and revoke: %+v", got)
		}
	})

	t.Run("Audit", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		var ids []int64
		for i, team := range []string{"red", "blue", "red"} {
			e := &store.AuditEntry{Actor: "key_1", Team: team, Action: "POST /api/v1/jobs", Resource: "job_x", Status: 202 + i, Client: "127.0.0.1", RequestID: "r"}
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
			if e.ID == 0 || e.Time.IsZero() {
				t.Errorf("AppendAudit left id %d time %v", e.ID, e.Time)
			}
			ids = append(ids, e.ID)
		}
		l, n, err := s.ListAudit(ctx, "", store.ListParams{Limit: 2})
		if err != nil || n != 3 || len(l) != 2 || l[0].ID != ids[2] || l[1].ID != ids[1] {
			t.Errorf("ListAudit all = %+v (%d), %v", l, n, err)
		}
		l, n, _ = s.ListAudit(ctx, "red", store.ListParams{Offset: 1})
		if n != 2 || len(l) != 1 || l[0].ID != ids[0] || l[0].Status != 202 || l[0].Client != "127.0.0.1" {
			t.Errorf("ListAudit red page 2 = %+v (%d)", l, n)
		}
	})
}
