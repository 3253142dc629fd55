package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/whetstone/whetstone/internal/store"
)

// runDatasetOnce checks FindDataset and CreateDatasetOnce: the same bytes
// under the same name in the same team are stored once, also when the
// calls race; another name or another team stores a new dataset.
func runDatasetOnce(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	newDS := func(team, name, sha string) *store.Dataset {
		return &store.Dataset{ID: store.NewID("ds"), Name: name, Team: team, Size: 10, SHA256: sha, Format: "jsonl",
			BlobKey: "datasets/" + name, CreatedAt: now, Version: "sha256:" + sha,
			Profile: json.RawMessage(`{"rows":2}`), Sample: json.RawMessage(`[{"text":"a"}]`)}
	}
	once := func(t *testing.T, s store.Store, d *store.Dataset) (*store.Dataset, bool) {
		t.Helper()
		var got *store.Dataset
		var created bool
		if err := s.InTx(ctx, func(tx store.Tx) (err error) {
			got, created, err = tx.CreateDatasetOnce(ctx, d)
			return err
		}); err != nil {
			t.Fatalf("CreateDatasetOnce(%s %q %s): %v", d.Team, d.Name, d.SHA256, err)
		}
		return got, created
	}

	t.Run("DatasetOnce", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		first := newDS("red", "train.jsonl", "aa")
		if got, created := once(t, s, first); !created || got != first {
			t.Fatalf("first upload: created %v, got %+v; want d itself, created", created, got)
		}
		// The same bytes under the same name: the first is returned, nothing stored.
		again := newDS("red", "train.jsonl", "aa")
		got, created := once(t, s, again)
		if created || got == nil || !cmp.Equal(got, first) {
			t.Errorf("same bytes, same name: created %v (-first +got) %s", created, cmp.Diff(first, got))
		}
		if _, err := s.GetDataset(ctx, again.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetDataset of the duplicate's id = %v, want ErrNotFound (nothing stored)", err)
		}
		// Another name, another team, other bytes: each is a new dataset.
		for _, d := range []*store.Dataset{newDS("red", "copy.jsonl", "aa"), newDS("blue", "train.jsonl", "aa"), newDS("red", "train.jsonl", "bb")} {
			if got, created := once(t, s, d); !created || got.ID != d.ID {
				t.Errorf("%s %q %s: created %v, id %s; want a new dataset %s", d.Team, d.Name, d.SHA256, created, got.ID, d.ID)
			}
		}
		// Without a SHA-256 there is nothing to match: always stored.
		a, b := newDS("red", "x.jsonl", ""), newDS("red", "x.jsonl", "")
		if _, created := once(t, s, a); !created {
			t.Error("dataset without sha256 not stored")
		}
		if _, created := once(t, s, b); !created {
			t.Error("second dataset without sha256 not stored")
		}
		ds, total, err := s.ListDatasets(ctx, store.ListParams{})
		if err != nil || total != 6 || len(ds) != 6 {
			t.Errorf("ListDatasets = %d of %d (%v), want 6", len(ds), total, err)
		}

		// FindDataset: by team, SHA-256 and name; scoped readers see their own team's only.
		if f, err := s.FindDataset(ctx, "red", "aa", "train.jsonl"); err != nil || !cmp.Equal(f, first) {
			t.Errorf("FindDataset (-want +got) %s %v", cmp.Diff(first, f), err)
		}
		if f, err := s.ForTeam("red").FindDataset(ctx, "red", "aa", "train.jsonl"); err != nil || f.ID != first.ID {
			t.Errorf("red's FindDataset = %+v %v", f, err)
		}
		for _, c := range []struct {
			r               store.Reader
			team, sha, name string
		}{
			{s.ForTeam("blue"), "red", "aa", "train.jsonl"},
			{s, "red", "aa", "other.jsonl"},
			{s, "red", "cc", "train.jsonl"},
			{s, "green", "aa", "train.jsonl"},
		} {
			if f, err := c.r.FindDataset(ctx, c.team, c.sha, c.name); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("FindDataset(%s, %s, %q) = %+v, %v; want ErrNotFound", c.team, c.sha, c.name, f, err)
			}
		}
	})

	t.Run("DatasetOnceRace", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		const n = 8
		var wg sync.WaitGroup
		ids := make([]string, n)
		made := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.InTx(ctx, func(tx store.Tx) error {
					got, created, err := tx.CreateDatasetOnce(ctx, newDS("", "same.jsonl", "ff"))
					if err == nil {
						ids[i], made[i] = got.ID, created
					}
					return err
				})
			}()
		}
		wg.Wait()
		createdN := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("racing CreateDatasetOnce %d: %v", i, errs[i])
			}
			if made[i] {
				createdN++
			}
			if ids[i] != ids[0] {
				t.Errorf("racing uploads got ids %v, want one", ids)
				break
			}
		}
		_, total, err := s.ListDatasets(ctx, store.ListParams{})
		if createdN != 1 || total != 1 || err != nil {
			t.Errorf("%d racing uploads of the same bytes and name: %d created, %d stored (%v); want 1 and 1", n, createdN, total, err)
		}
	})
}
