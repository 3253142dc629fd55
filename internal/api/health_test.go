package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestHealthForLoadBalancers: /health at the root is the health document
// (not the web UI), /readyz follows the backends, /livez only the process;
// with the database closed the first two answer 503.
func TestHealthForLoadBalancers(t *testing.T) {
	e := setup(t)
	root := strings.TrimSuffix(e.url, "/api/v1")
	for _, c := range []struct {
		path string
		want int
	}{{"/health", 200}, {"/readyz", 200}, {"/livez", 200}} {
		resp, b := do(t, "GET", root+c.path, "", nil)
		var doc struct{ Status string }
		if resp.StatusCode != c.want || json.Unmarshal(b, &doc) != nil || doc.Status != "ok" {
			t.Errorf("GET %s = %d %s, want %d and a JSON status ok", c.path, resp.StatusCode, b, c.want)
		}
		if id := resp.Header.Get("X-Request-Id"); id == "" {
			t.Errorf("GET %s: no X-Request-Id", c.path)
		}
	}
	// A client's own request id is kept; a hostile one is replaced.
	resp, _ := do(t, "GET", root+"/livez", "", nil, "X-Request-Id", "trace-42.a_b")
	if got := resp.Header.Get("X-Request-Id"); got != "trace-42.a_b" {
		t.Errorf("X-Request-Id = %q, want the client's", got)
	}
	resp, _ = do(t, "GET", root+"/livez", "", nil, "X-Request-Id", "bad id <script>")
	if got := resp.Header.Get("X-Request-Id"); !strings.HasPrefix(got, "req_") {
		t.Errorf("X-Request-Id = %q, want a fresh one", got)
	}

	e.p.Store.Close() // the database goes away
	for _, c := range []struct {
		path string
		want int
	}{{"/health", 503}, {"/readyz", 503}, {"/livez", 200}} {
		resp, b := do(t, "GET", root+c.path, "", nil)
		if resp.StatusCode != c.want {
			t.Errorf("database down: GET %s = %d %s, want %d", c.path, resp.StatusCode, b, c.want)
		}
		if c.want == 503 && !strings.Contains(string(b), `"database":"`) {
			t.Errorf("database down: GET %s does not name the database: %s", c.path, b)
		}
	}
}
