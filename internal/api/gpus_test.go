package api_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/whetstone/whetstone/internal/gpus"
)

// TestGPUs: GET /api/v1/gpus serves the NVML inventory: an empty list on a
// machine without a GPU (CI), the same list as gpus.List otherwise.
func TestGPUs(t *testing.T) {
	e := setup(t)
	resp, body := do(t, http.MethodGet, e.url+"/gpus", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got struct {
		GPUs    []gpus.GPU `json:"gpus"`
		Waiting []string   `json:"waiting"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	want, _ := gpus.List()
	if got.GPUs == nil || got.Waiting == nil || len(got.GPUs) != len(want) {
		t.Fatalf("body %s; want %d GPUs and [] lists, not null", body, len(want))
	}
	for i := range want {
		if got.GPUs[i].UUID != want[i].UUID || got.GPUs[i].MemoryTotal != want[i].MemoryTotal {
			t.Errorf("gpu %d: %+v, want %+v", i, got.GPUs[i], want[i])
		}
	}
}
