package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestErrorValuesCapped: a 422 repeats an oversized query value only as
// its first 200 characters, an ellipsis and its length (huma echoed a
// 900 KB value back in full); a short value comes back whole.
func TestErrorValuesCapped(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	long := strings.Repeat("x", 900<<10)
	capped := strings.Repeat("x", 200) + "… (921600 characters)"
	for _, c := range []struct{ path, value string }{
		{"/models?q=" + long, capped},
		{"/datasets?q=" + long, capped},
		{"/jobs?status=" + long, capped},
		{"/jobs?status=done", "done"},
	} {
		resp, b := do(t, "GET", e.url+c.path, "", nil)
		var p struct {
			Errors []struct {
				Location string
				Value    any
			}
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("GET %.40s…: %d %.300s: %v", c.path, resp.StatusCode, b, err)
		}
		if resp.StatusCode != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Value != c.value {
			t.Errorf("GET %.40s…: %d %.600s, want 422 with the value %.40q…", c.path, resp.StatusCode, b, c.value)
		}
		if len(b) > 2000 {
			t.Errorf("GET %.40s…: a %d-byte error body", c.path, len(b))
		}
	}
}
