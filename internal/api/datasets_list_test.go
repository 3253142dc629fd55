package api_test

import (
	"bytes"
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

// TestListDatasetsFilters checks GET /datasets' q and format params: they
// filter before paging, total counts every match, limit/offset page the
// filtered list as they page the whole one, and the format is the record
// format an upload's profile detected.
func TestListDatasetsFilters(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Hour)
	// 60 datasets, oldest first: more than the default page of 50
	var all []string
	for i := range 60 {
		name, format, source := "alpha", "alpaca", "alpaca"
		switch i % 3 {
		case 1:
			format, source = "messages", "sharegpt"
		case 2:
			name, format, source = "beta", "text", "text"
		}
		prof, _ := json.Marshal(map[string]any{"rows": i, "format": format, "source_format": source, "columns": []any{}})
		d := &store.Dataset{ID: fmt.Sprintf("ds_%03d", i), Name: fmt.Sprintf("%s-%d.jsonl", name, i), Size: 1, SHA256: fmt.Sprint(i), Format: "jsonl",
			BlobKey: "datasets/x", CreatedAt: base.Add(time.Duration(i) * time.Second), Profile: prof}
		if err := e.p.Store.InTx(ctx, func(tx store.Tx) error { return tx.CreateDataset(ctx, d) }); err != nil {
			t.Fatal(err)
		}
		all = append([]string{d.ID}, all...) // newest first
	}
	type list struct {
		Datasets []struct {
			ID      string                `json:"dataset_id"`
			Summary *store.DatasetSummary `json:"summary"`
		} `json:"datasets"`
		Total  int `json:"total"`
		Limit  int `json:"limit"`
		Offset int `json:"offset"`
	}
	get := func(t *testing.T, query string) (int, list, string) {
		t.Helper()
		resp, b := do(t, "GET", e.url+"/datasets"+query, "", nil)
		var l list
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatalf("GET /datasets%s: %v: %s", query, err, b)
			}
		}
		return resp.StatusCode, l, string(b)
	}
	ids := func(l list) []string {
		var out []string
		for _, d := range l.Datasets {
			out = append(out, d.ID)
		}
		return out
	}
	keep := func(f func(i int) bool) []string {
		var out []string
		for _, id := range all {
			var i int
			fmt.Sscanf(id, "ds_%d", &i)
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
		{"q on dataset id", "?q=ds_05", keep(func(i int) bool { return i >= 50 && i < 60 }), 10, 50, 0},
		{"q is trimmed", "?q=" + url.QueryEscape("  alpha-57.jsonl "), []string{"ds_057"}, 1, 50, 0},
		{"q is literal", "?q=" + url.QueryEscape("a%"), nil, 0, 50, 0},
		{"format is the detected one", "?format=sharegpt", keep(func(i int) bool { return i%3 == 1 }), 20, 50, 0},
		{"format is not the file type", "?format=jsonl", nil, 0, 50, 0},
		{"formats, comma-separated", "?format=alpaca,text&limit=100", keep(func(i int) bool { return i%3 != 1 }), 40, 100, 0},
		{"empty format items are ignored", "?format=alpaca,", keep(func(i int) bool { return i%3 == 0 }), 20, 50, 0},
		{"q and format, paged", "?q=alpha&format=alpaca&limit=5&offset=15", keep(func(i int) bool { return i%3 == 0 })[15:], 20, 5, 15},
		{"no match", "?q=gamma", nil, 0, 50, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, l, b := get(t, tc.query)
			if code != 200 {
				t.Fatalf("GET /datasets%s = %d %s", tc.query, code, b)
			}
			if diff := cmp.Diff(tc.want, ids(l)); diff != "" {
				t.Errorf("GET /datasets%s ids (-want +got):\n%s", tc.query, diff)
			}
			if l.Total != tc.total || l.Limit != tc.limit || l.Offset != tc.offset {
				t.Errorf("GET /datasets%s page = total %d limit %d offset %d, want %d %d %d", tc.query, l.Total, l.Limit, l.Offset, tc.total, tc.limit, tc.offset)
			}
		})
	}
	for _, tc := range []struct{ name, query, want string }{
		{"q too long", "?q=" + strings.Repeat("x", 201), "q"},
		{"too many formats", "?format=" + strings.TrimSuffix(strings.Repeat("alpaca,", 21), ","), "format"},
		{"offset negative", "?offset=-1", "offset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, b := get(t, tc.query)
			if code != 422 || !strings.Contains(b, `"location":"query.`+tc.want+`"`) {
				t.Errorf("GET /datasets%s = %d %s; want 422 naming query.%s", tc.query, code, b, tc.want)
			}
		})
	}

	// An upload's profile is what the format filter reads.
	t.Run("uploads", func(t *testing.T) {
		for name, rows := range map[string]string{
			"Upload-Alpaca.jsonl": tinyRows,
			"upload-chat.jsonl":   `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}` + "\n",
		} {
			ct, body := multipartFile(name, rows)
			resp, b := do(t, "POST", e.url+"/datasets/upload", ct, bytes.NewReader(body))
			if resp.StatusCode != 201 {
				t.Fatalf("upload %s = %d %s", name, resp.StatusCode, b)
			}
		}
		for _, tc := range []struct{ query, want string }{
			{"?q=UPLOAD&format=alpaca", "alpaca"},
			{"?q=upload-&format=messages", "messages"},
		} {
			code, l, b := get(t, tc.query)
			if code != 200 || l.Total != 1 || len(l.Datasets) != 1 || l.Datasets[0].Summary == nil || l.Datasets[0].Summary.Format != tc.want {
				t.Errorf("GET /datasets%s = %d %s; want the one upload of %s records", tc.query, code, b, tc.want)
			}
		}
	})
}
