package storetest

import (
	"context"
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
