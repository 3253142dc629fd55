package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/whetstone/whetstone/internal/store"
)

// runDatasetFilters checks ListDatasets' query and format filters, with
// paging, counts and team scoping.
func runDatasetFilters(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("ListDatasetsFilters", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		base := time.Now().UTC().Truncate(time.Microsecond)
		prof := func(format, source string) json.RawMessage {
			b, err := json.Marshal(map[string]any{"rows": 3, "format": format, "source_format": source, "columns": []map[string]any{{"name": "text"}}})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		// oldest first; created a second apart so newest-first order is fixed
		datasets := []*store.Dataset{
			{ID: "ds_a1", Name: "Alpaca-Clean.jsonl", Format: "jsonl", Profile: prof("alpaca", "alpaca")},
			{ID: "ds_a2", Name: "alpaca-clean-v2.csv", Format: "csv", Profile: prof("alpaca", "alpaca")},
			{ID: "ds_s1", Name: "chats.jsonl", Format: "jsonl", Profile: prof("messages", "sharegpt")},
			{ID: "ds_m1", Name: "support_chat.parquet", Format: "parquet", Profile: prof("messages", "messages")},
			// an older profile with no source format: its format is the detected one
			{ID: "ds_t1", Name: "notes.txt", Format: "text", Profile: json.RawMessage(`{"rows":9,"format":"text","columns":[]}`)},
			{ID: "ds_p1", Name: "prefs.jsonl", Format: "jsonl", Profile: prof("preference", "preference")},
			// unreadable at upload, and uploaded before profiles were kept: no format
			{ID: "ds_x1", Name: "broken.jsonl", Format: "jsonl", Profile: json.RawMessage(`{"error":"line 1: not JSON"}`)},
			{ID: "ds_x2", Name: "old.jsonl", Format: "jsonl"},
			// non-ASCII letters match only as written
			{ID: "ds_u1", Name: "Ünïcode-Daten.jsonl", Format: "jsonl", Profile: prof("completion", "completion")},
			// another team's alpaca dataset whose name matches "alpaca"
			{ID: "ds_r1", Name: "alpaca-red.jsonl", Team: "red", Format: "jsonl", Profile: prof("alpaca", "alpaca")},
		}
		for i, d := range datasets {
			d.Size, d.SHA256, d.BlobKey, d.CreatedAt = 10, d.ID, "datasets/"+d.ID, base.Add(time.Duration(i)*time.Second)
			d.Version = "sha256:" + d.SHA256
			if err := s.InTx(ctx, func(tx store.Tx) error { return tx.CreateDataset(ctx, d) }); err != nil {
				t.Fatal(err)
			}
		}
		def := s.ForTeam(store.DefaultTeam)
		all := []string{"ds_r1", "ds_u1", "ds_x2", "ds_x1", "ds_p1", "ds_t1", "ds_m1", "ds_s1", "ds_a2", "ds_a1"}
		for _, tc := range []struct {
			name  string
			rd    store.Reader
			p     store.ListParams
			want  []string
			total int
		}{
			{"all", s, store.ListParams{}, all, 10},
			{"query name ignores case", s, store.ListParams{Query: "ALPACA-clean"}, []string{"ds_a2", "ds_a1"}, 2},
			{"query id", s, store.ListParams{Query: "DS_X"}, []string{"ds_x2", "ds_x1"}, 2},
			{"query is a substring, not a pattern", s, store.ListParams{Query: "%"}, nil, 0},
			{"query underscore is literal", s, store.ListParams{Query: "t_c"}, []string{"ds_m1"}, 1},
			{"query non-ASCII as written", s, store.ListParams{Query: "ünï"}, nil, 0},
			{"query non-ASCII, ASCII folded", s, store.ListParams{Query: "ÜnÏCODE"}, nil, 0},
			{"query non-ASCII matches itself", s, store.ListParams{Query: "Ünïcode-DATEN"}, []string{"ds_u1"}, 1},
			{"query no match", s, store.ListParams{Query: "llama"}, nil, 0},
			// text PostgreSQL cannot hold (a NUL, bytes that are not UTF-8) names no dataset
			{"query with a NUL", s, store.ListParams{Query: "alpaca\x00"}, nil, 0},
			{"query not UTF-8", s, store.ListParams{Query: "alpaca\xff"}, nil, 0},
			{"format with a NUL or not UTF-8", s, store.ListParams{Formats: []string{"alpaca\x00", "\xffalpaca", "sharegpt"}}, []string{"ds_s1"}, 1},
			{"format", s, store.ListParams{Formats: []string{"alpaca"}}, []string{"ds_r1", "ds_a2", "ds_a1"}, 3},
			{"format is the source format", s, store.ListParams{Formats: []string{"sharegpt"}}, []string{"ds_s1"}, 1},
			{"formats", s, store.ListParams{Formats: []string{"messages", "text"}}, []string{"ds_t1", "ds_m1"}, 2},
			{"format is not the file type", s, store.ListParams{Formats: []string{"jsonl", "csv"}}, nil, 0},
			{"format is exact", s, store.ListParams{Formats: []string{"Alpaca", "pref"}}, nil, 0},
			{"no format matches no format", s, store.ListParams{Formats: []string{""}}, nil, 0},
			{"query and format", s, store.ListParams{Query: "alpaca", Formats: []string{"alpaca"}}, []string{"ds_r1", "ds_a2", "ds_a1"}, 3},
			{"team scoped", def, store.ListParams{Query: "alpaca", Formats: []string{"alpaca"}}, []string{"ds_a2", "ds_a1"}, 2},
			{"team scoped, all", def, store.ListParams{}, all[1:], 9},
			{"paged filter: total counts every match", s, store.ListParams{Formats: []string{"alpaca", "messages", "sharegpt"}, Limit: 2, Offset: 1}, []string{"ds_m1", "ds_s1"}, 5},
			{"paged query past the end", def, store.ListParams{Query: ".jsonl", Limit: 3, Offset: 5}, []string{"ds_a1"}, 6},
		} {
			t.Run(tc.name, func(t *testing.T) {
				l, total, err := tc.rd.ListDatasets(ctx, tc.p)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, d := range l {
					got = append(got, d.ID)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" || total != tc.total {
					t.Errorf("ListDatasets(%+v) = total %d, want %d; ids (-want +got):\n%s", tc.p, total, tc.total, diff)
				}
				for _, d := range l {
					if d.Profile != nil || d.Sample != nil {
						t.Errorf("%s: list returned the profile or sample", d.ID)
					}
					if len(tc.p.Formats) > 0 && (d.Summary == nil || !slices.Contains(tc.p.Formats, d.Summary.Format)) {
						t.Errorf("%s: Summary %+v, format not among %v", d.ID, d.Summary, tc.p.Formats)
					}
				}
			})
		}
	})
}

// runDeleteDataset checks DeleteDataset: the record goes, another stays, a
// rolled-back delete keeps it, a second delete is ErrNotFound, and a job
// keeps the dataset versions it recorded.
func runDeleteDataset(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("DeleteDataset", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		now := time.Now().UTC().Truncate(time.Microsecond)
		a := &store.Dataset{ID: "ds_del1", Name: "a.jsonl", Size: 3, SHA256: "aa", Format: "jsonl", BlobKey: "datasets/ds_del1/a.jsonl", CreatedAt: now, Version: "sha256:aa"}
		b := &store.Dataset{ID: "ds_del2", Name: "b.jsonl", Team: "red", Size: 4, SHA256: "bb", Format: "jsonl", BlobKey: "datasets/ds_del2/b.jsonl", CreatedAt: now, Version: "sha256:bb"}
		j := &store.Job{ID: "job_del", Name: "p", Status: store.Succeeded, Spec: json.RawMessage(`{}`), CreatedAt: now}
		if err := s.InTx(ctx, func(tx store.Tx) error {
			for _, d := range []*store.Dataset{a, b} {
				if err := tx.CreateDataset(ctx, d); err != nil {
					return err
				}
			}
			if err := tx.CreateJob(ctx, j); err != nil {
				return err
			}
			return tx.AddJobDatasets(ctx, j.ID, []store.DatasetVersion{{ID: a.ID, Name: a.Name, Version: a.Version}})
		}); err != nil {
			t.Fatal(err)
		}
		rollback := errors.New("rollback")
		if err := s.InTx(ctx, func(tx store.Tx) error {
			if err := tx.DeleteDataset(ctx, a.ID); err != nil {
				return err
			}
			if _, err := tx.GetDataset(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetDataset in the deleting transaction: %v, want ErrNotFound", err)
			}
			return rollback
		}); !errors.Is(err, rollback) {
			t.Fatalf("InTx: %v", err)
		}
		if _, err := s.GetDataset(ctx, a.ID); err != nil {
			t.Fatalf("GetDataset after a rolled-back delete: %v", err)
		}
		if err := s.InTx(ctx, func(tx store.Tx) error { return tx.DeleteDataset(ctx, a.ID) }); err != nil {
			t.Fatalf("DeleteDataset: %v", err)
		}
		if _, err := s.GetDataset(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetDataset after DeleteDataset: %v, want ErrNotFound", err)
		}
		if l, total, err := s.ListDatasets(ctx, store.ListParams{}); err != nil || total != 1 || len(l) != 1 || l[0].ID != b.ID {
			t.Errorf("ListDatasets after DeleteDataset = %d datasets (total %d), %v; want only %s", len(l), total, err, b.ID)
		}
		if _, err := s.ForTeam("red").GetDataset(ctx, b.ID); err != nil {
			t.Errorf("the other dataset: %v", err)
		}
		if err := s.InTx(ctx, func(tx store.Tx) error { return tx.DeleteDataset(ctx, a.ID) }); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteDataset of a deleted dataset: %v, want ErrNotFound", err)
		}
		got, err := s.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Datasets) != 1 || got.Datasets[0].ID != a.ID || got.Datasets[0].Version != a.Version {
			t.Errorf("job datasets after DeleteDataset = %+v, want the recorded version of %s", got.Datasets, a.ID)
		}
	})
}
