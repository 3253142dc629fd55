package store_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/whetstone/whetstone/internal/store"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		profile string
		want    *store.DatasetSummary
	}{
		{"none", ``, nil},
		{"not json", `{"rows":`, nil},
		{"chat jsonl: the detected format", `{"rows":3,"format":"messages","source_format":"sharegpt","columns":[{"name":"conversations"},{"name":"system"}],"fields":[{"name":"messages[*].content","count":3}]}`,
			&store.DatasetSummary{Rows: 3, Format: "sharegpt", Columns: []string{"conversations", "system"}}},
		{"canonical format when no source format", `{"rows":2,"format":"alpaca"}`, &store.DatasetSummary{Rows: 2, Format: "alpaca", Columns: []string{}}},
		{"profiling failed", `{"error":"parse line 3: unexpected EOF"}`, &store.DatasetSummary{Columns: []string{}, Error: "parse line 3: unexpected EOF"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := store.Summarize(json.RawMessage(tc.profile))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Summarize(%s) (-want +got):\n%s", tc.profile, diff)
			}
		})
	}
}
