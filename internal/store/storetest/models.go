package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/whetstone/whetstone/internal/store"
)

// runModelFilters checks ListModels' query and format filters, with paging,
// counts and team scoping.
func runModelFilters(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("ListModelsFilters", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		base := time.Now().UTC().Truncate(time.Microsecond)
		// oldest first; created a second apart so newest-first order is fixed
		models := []*store.Model{
			{ID: "mdl_a1", Name: "Alpaca-Run/tune/model", JobID: "job_alpha", Output: "model", Meta: map[string]any{"format": "peft-lora"}},
			{ID: "mdl_a2", Name: "alpaca-run/export/adapter", JobID: "job_alpha", Output: "adapter", Meta: map[string]any{"format": "adapter"}},
			{ID: "mdl_a3", Name: "alpaca-run/export/gguf", JobID: "job_alpha", Output: "gguf", Meta: map[string]any{"format": "gguf"}},
			{ID: "mdl_b1", Name: "dolly/tune/model", JobID: "job_beta", Output: "model", Meta: map[string]any{"format": "hf"}},
			{ID: "mdl_b2", Name: "dolly/export/merged", JobID: "job_beta", Output: "merged", Meta: map[string]any{"format": "merged"}},
			// no format recorded (nil meta, empty or non-string format): the output names it
			{ID: "mdl_c1", Name: "old/export/gguf", JobID: "job_gamma", Output: "gguf"},
			{ID: "mdl_c2", Name: "old/export/merged", JobID: "job_gamma", Output: "merged", Meta: map[string]any{"format": ""}},
			{ID: "mdl_c3", Name: "old/tune/model", JobID: "job_gamma", Output: "model", Meta: map[string]any{"format": 3.0}},
			// another team's GGUF whose name matches "alpaca"
			{ID: "mdl_r1", Name: "alpaca-red/export/gguf", JobID: "job_red", Team: "red", Output: "gguf", Meta: map[string]any{"format": "gguf"}},
		}
		for i, m := range models {
			m.URI, m.CreatedAt = "models/"+m.ID+"/", base.Add(time.Duration(i)*time.Second)
			if err := s.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, m) }); err != nil {
				t.Fatal(err)
			}
		}
		def := s.ForTeam(store.DefaultTeam)
		for _, tc := range []struct {
			name  string
			rd    store.Reader
			p     store.ListParams
			want  []string
			total int
		}{
			{"all", s, store.ListParams{}, []string{"mdl_r1", "mdl_c3", "mdl_c2", "mdl_c1", "mdl_b2", "mdl_b1", "mdl_a3", "mdl_a2", "mdl_a1"}, 9},
			{"query name ignores case", s, store.ListParams{Query: "ALPACA-run"}, []string{"mdl_a3", "mdl_a2", "mdl_a1"}, 3},
			{"query id", s, store.ListParams{Query: "mdl_B"}, []string{"mdl_b2", "mdl_b1"}, 2},
			{"query job id", s, store.ListParams{Query: "job_gam"}, []string{"mdl_c3", "mdl_c2", "mdl_c1"}, 3},
			{"query is a substring, not a pattern", s, store.ListParams{Query: "%"}, nil, 0},
			{"query underscore is literal", s, store.ListParams{Query: "l_a"}, []string{"mdl_a3", "mdl_a2", "mdl_a1"}, 3},
			{"query no match", s, store.ListParams{Query: "llama"}, nil, 0},
			// text PostgreSQL cannot hold (a NUL, bytes that are not UTF-8) names no model
			{"query with a NUL", s, store.ListParams{Query: "alpaca\x00"}, nil, 0},
			{"query not UTF-8", s, store.ListParams{Query: "alpaca\xff"}, nil, 0},
			{"format with a NUL or not UTF-8", s, store.ListParams{Formats: []string{"gguf\x00", "\xffgguf", "merged"}}, []string{"mdl_c2", "mdl_b2"}, 2},
			{"format", s, store.ListParams{Formats: []string{"gguf"}}, []string{"mdl_r1", "mdl_c1", "mdl_a3"}, 3},
			{"formats", s, store.ListParams{Formats: []string{"peft-lora", "adapter"}}, []string{"mdl_a2", "mdl_a1"}, 2},
			{"format from output", s, store.ListParams{Formats: []string{"merged"}}, []string{"mdl_c2", "mdl_b2"}, 2},
			{"non-string format is the output's", s, store.ListParams{Formats: []string{"model"}}, []string{"mdl_c3"}, 1},
			{"format is exact", s, store.ListParams{Formats: []string{"GGUF", "peft"}}, nil, 0},
			{"query and format", s, store.ListParams{Query: "alpaca", Formats: []string{"gguf"}}, []string{"mdl_r1", "mdl_a3"}, 2},
			{"team scoped", def, store.ListParams{Query: "alpaca", Formats: []string{"gguf"}}, []string{"mdl_a3"}, 1},
			{"team scoped, all", def, store.ListParams{}, []string{"mdl_c3", "mdl_c2", "mdl_c1", "mdl_b2", "mdl_b1", "mdl_a3", "mdl_a2", "mdl_a1"}, 8},
			{"paged filter: total counts every match", s, store.ListParams{Formats: []string{"gguf", "merged"}, Limit: 2, Offset: 1}, []string{"mdl_c2", "mdl_c1"}, 5},
			{"paged query past the end", def, store.ListParams{Query: "old", Limit: 2, Offset: 2}, []string{"mdl_c1"}, 3},
		} {
			t.Run(tc.name, func(t *testing.T) {
				l, total, err := tc.rd.ListModels(ctx, tc.p)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, m := range l {
					got = append(got, m.ID)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" || total != tc.total {
					t.Errorf("ListModels(%+v) = total %d, want %d; ids (-want +got):\n%s", tc.p, total, tc.total, diff)
				}
				if len(tc.p.Formats) > 0 {
					for _, m := range l {
						if !slices.Contains(tc.p.Formats, m.Format()) {
							t.Errorf("%s: Format %q not among %v", m.ID, m.Format(), tc.p.Formats)
						}
					}
				}
			})
		}
		// Only ASCII letters fold (SQLite's lower; PostgreSQL's would fold
		// every letter), in a team of its own so the cases above stay.
		u := &store.Model{ID: "mdl_u1", Name: "Ünïcode-Modell/export/gguf", JobID: "job_uni", Team: "uni", Output: "gguf",
			URI: "models/mdl_u1/", CreatedAt: base.Add(time.Minute)}
		if err := s.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, u) }); err != nil {
			t.Fatal(err)
		}
		for q, want := range map[string]int{"Ünïcode-MODELL": 1, "ünïcode": 0, "ÜNÏCODE": 0} {
			if _, total, err := s.ForTeam("uni").ListModels(ctx, store.ListParams{Query: q}); err != nil || total != want {
				t.Errorf("ListModels(Query %q) = %d, %v; want %d (only ASCII letters fold)", q, total, err, want)
			}
		}
	})
}

// runModelKeyset checks ListModels' keyset paging (ListParams.After): a
// lister that deletes models between pages still lists every model that
// exists to the end once, in order, where offsets would skip one for each
// model deleted before its page.
func runModelKeyset(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("ListModelsKeyset", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		base := time.Now().UTC().Truncate(time.Microsecond)
		// 20 models, newest first m19..m00; m10..m13 share one time, so
		// the id orders them (and the cursor must compare it).
		var all []*store.Model
		for i := range 20 {
			at := base.Add(time.Duration(i) * time.Second)
			if i >= 10 && i <= 13 {
				at = base.Add(10 * time.Second)
			}
			team := ""
			if i == 7 {
				team = "red"
			}
			m := &store.Model{ID: fmt.Sprintf("mdl_k%02d", i), Name: fmt.Sprintf("k%d/export/adapter", i), JobID: "job_k", Team: team,
				Output: "adapter", URI: fmt.Sprintf("models/k%d/", i), CreatedAt: at}
			if err := s.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, m) }); err != nil {
				t.Fatal(err)
			}
			all = append(all, m)
		}
		del := func(ids ...string) {
			t.Helper()
			for _, id := range ids {
				if err := s.InTx(ctx, func(tx store.Tx) error { return tx.DeleteModel(ctx, id) }); err != nil {
					t.Fatalf("DeleteModel(%s): %v", id, err)
				}
			}
		}
		// Deleted after the page that listed them (each would shift the
		// next page by one), and one ahead that must then not be listed.
		deletions := map[int][]string{
			1: {"mdl_k19", "mdl_k18"},
			2: {"mdl_k14", "mdl_k13", "mdl_k05"},
			3: {"mdl_k12"},
		}
		var got []string
		var after *store.Cursor
		for page := 1; ; page++ {
			if page > 20 {
				t.Fatal("paging does not end")
			}
			l, _, err := s.ListModels(ctx, store.ListParams{Limit: 4, After: after})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range l {
				got = append(got, m.ID)
			}
			if len(l) < 4 {
				break
			}
			after = store.CursorOf(l[len(l)-1])
			del(deletions[page]...)
		}
		want := []string{"mdl_k19", "mdl_k18", "mdl_k17", "mdl_k16", "mdl_k15", "mdl_k14", "mdl_k13", "mdl_k12", "mdl_k11", "mdl_k10",
			"mdl_k09", "mdl_k08", "mdl_k07", "mdl_k06", "mdl_k04", "mdl_k03", "mdl_k02", "mdl_k01", "mdl_k00"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("keyset pages with deletions between them (-want +got):\n%s", diff)
		}

		// A cursor whose model is gone still places the list; filters, team
		// scope and Offset apply after it, and the total ignores it.
		for _, tc := range []struct {
			name  string
			rd    store.Reader
			p     store.ListParams
			want  []string
			total int
		}{
			{"after a deleted model", s, store.ListParams{Limit: 3, After: store.CursorOf(all[12])}, []string{"mdl_k11", "mdl_k10", "mdl_k09"}, 14},
			{"ties broken by id", s, store.ListParams{Limit: 2, After: &store.Cursor{CreatedAt: all[11].CreatedAt, ID: "mdl_k11"}}, []string{"mdl_k10", "mdl_k09"}, 14},
			{"team scoped", s.ForTeam(store.DefaultTeam), store.ListParams{Limit: 2, After: store.CursorOf(all[8])}, []string{"mdl_k06", "mdl_k04"}, 13},
			{"query", s, store.ListParams{Query: "k0", After: store.CursorOf(all[4])}, []string{"mdl_k03", "mdl_k02", "mdl_k01", "mdl_k00"}, 9},
			{"offset counts from the cursor", s, store.ListParams{Limit: 2, Offset: 1, After: store.CursorOf(all[9])}, []string{"mdl_k07", "mdl_k06"}, 14},
			{"after the oldest", s, store.ListParams{After: store.CursorOf(all[0])}, nil, 14},
		} {
			t.Run(tc.name, func(t *testing.T) {
				l, total, err := tc.rd.ListModels(ctx, tc.p)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, m := range l {
					got = append(got, m.ID)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" || total != tc.total {
					t.Errorf("ListModels(%+v) = total %d, want %d; ids (-want +got):\n%s", tc.p, total, tc.total, diff)
				}
			})
		}
		if err := s.InTx(ctx, func(tx store.Tx) error { return tx.DeleteModel(ctx, "mdl_k19") }); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteModel of a deleted model: %v, want ErrNotFound", err)
		}
	})
}
