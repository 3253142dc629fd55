package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/whetstone/whetstone/internal/store"
)

// TestListModelsFilters checks GET /models' q and format params: they
// filter before paging, total counts every match, and limit/offset page the
// filtered list as they page the whole one.
func TestListModelsFilters(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Hour)
	// 60 models, oldest first: more than the default page of 50
	var all []string
	for i := range 60 {
		run, out, format := "alpha", "gguf", "gguf"
		switch i % 3 {
		case 1:
			out, format = "model", "peft-lora"
		case 2:
			run, out, format = "beta", "merged", "merged"
		}
		m := &store.Model{ID: fmt.Sprintf("mdl_%03d", i), Name: fmt.Sprintf("%s-%d/export/%s", run, i, out), JobID: fmt.Sprintf("job_%d", i/3),
			Output: out, URI: "m/", Files: []string{}, Meta: map[string]any{"format": format}, CreatedAt: base.Add(time.Duration(i) * time.Second)}
		if err := e.p.Store.InTx(ctx, func(tx store.Tx) error { return tx.CreateModel(ctx, m) }); err != nil {
			t.Fatal(err)
		}
		all = append([]string{m.ID}, all...) // newest first
	}
	type list struct {
		Models []struct {
			ID   string         `json:"model_id"`
			Name string         `json:"name"`
			Meta map[string]any `json:"meta"`
		} `json:"models"`
		Total  int `json:"total"`
		Limit  int `json:"limit"`
		Offset int `json:"offset"`
	}
	get := func(t *testing.T, query string) (int, list, string) {
		t.Helper()
		resp, b := do(t, "GET", e.url+"/models"+query, "", nil)
		var l list
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatalf("GET /models%s: %v: %s", query, err, b)
			}
		}
		return resp.StatusCode, l, string(b)
	}
	ids := func(l list) []string {
		var out []string
		for _, m := range l.Models {
			out = append(out, m.ID)
		}
		return out
	}
	keep := func(f func(i int) bool) []string {
		var out []string
		for _, id := range all {
			var i int
			fmt.Sscanf(id, "mdl_%d", &i)
			if f(i) {
				out = append(out, id)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		query  string
		want   []string
		total  int
		limit  int
		offset int
	}{
		{"default page", "", all[:50], 60, 50, 0},
		{"second page", "?offset=50", all[50:], 60, 50, 50},
		{"q on name ignores case", "?q=BETA", keep(func(i int) bool { return i%3 == 2 }), 20, 50, 0},
		{"q on model id", "?q=mdl_05", keep(func(i int) bool { return i >= 50 && i < 60 }), 10, 50, 0},
		{"q on job id", "?q=job_19", []string{"mdl_059", "mdl_058", "mdl_057"}, 3, 50, 0},
		{"q is trimmed", "?q=" + url.QueryEscape("  job_19 "), []string{"mdl_059", "mdl_058", "mdl_057"}, 3, 50, 0},
		{"format", "?format=gguf", keep(func(i int) bool { return i%3 == 0 }), 20, 50, 0},
		{"formats, comma-separated", "?format=peft-lora,merged&limit=100", keep(func(i int) bool { return i%3 != 0 }), 40, 100, 0},
		{"empty format items are ignored", "?format=gguf,", keep(func(i int) bool { return i%3 == 0 }), 20, 50, 0},
		{"q and format, paged", "?q=alpha&format=peft-lora&limit=5&offset=15", keep(func(i int) bool { return i%3 == 1 })[15:], 20, 5, 15},
		{"no match", "?q=gamma", nil, 0, 50, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, l, b := get(t, tc.query)
			if code != 200 {
				t.Fatalf("GET /models%s = %d %s", tc.query, code, b)
			}
			if diff := cmp.Diff(tc.want, ids(l)); diff != "" {
				t.Errorf("GET /models%s ids (-want +got):\n%s", tc.query, diff)
			}
			if l.Total != tc.total || l.Limit != tc.limit || l.Offset != tc.offset {
				t.Errorf("GET /models%s page = total %d limit %d offset %d, want %d %d %d", tc.query, l.Total, l.Limit, l.Offset, tc.total, tc.limit, tc.offset)
			}
		})
	}
	for _, tc := range []struct{ name, query, want string }{
		{"q too long", "?q=" + strings.Repeat("x", 201), "q"},
		{"too many formats", "?format=" + strings.TrimSuffix(strings.Repeat("gguf,", 21), ","), "format"},
		{"limit out of range", "?limit=1001", "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, b := get(t, tc.query)
			if code != 422 || !strings.Contains(b, `"location":"query.`+tc.want+`"`) {
				t.Errorf("GET /models%s = %d %s; want 422 naming query.%s", tc.query, code, b, tc.want)
			}
		})
	}
}
