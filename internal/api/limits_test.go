package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestListJobsHonoursLimitAndOffset: GET /jobs?limit=2 returned every job.
func TestListJobsHonoursLimitAndOffset(t *testing.T) {
	e := setup(t, false)
	for i := range 5 {
		resp, b := do(t, "POST", e.url+"/jobs", "application/yaml", strings.NewReader(fmt.Sprintf("name: j%d\nnodes: [{id: data, agent: dataset, params: {source: x.jsonl}}]\n", i)))
		if resp.StatusCode != 202 {
			t.Fatalf("submit: %d %s", resp.StatusCode, b)
		}
	}
	var page struct {
		Jobs                 []struct{ Name string }
		Total, Limit, Offset int
	}
	_, b := do(t, "GET", e.url+"/jobs?limit=2", "", nil)
	json.Unmarshal(b, &page)
	if len(page.Jobs) != 2 || page.Total != 5 || page.Limit != 2 {
		t.Errorf("limit=2: %d jobs, total %d, limit %d: %s", len(page.Jobs), page.Total, page.Limit, b)
	}
	_, b = do(t, "GET", e.url+"/jobs?limit=2&offset=4", "", nil)
	json.Unmarshal(b, &page)
	if len(page.Jobs) != 1 || page.Jobs[0].Name != "j0" || page.Offset != 4 {
		t.Errorf("limit=2&offset=4: %s", b)
	}
	if resp, b := do(t, "GET", e.url+"/jobs?limit=100000", "", nil); resp.StatusCode != 422 {
		t.Errorf("limit=100000: %d %s, want 422 (maximum 1000)", resp.StatusCode, b)
	}
}
