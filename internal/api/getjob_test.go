package api_test

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/whetstone/whetstone/internal/api"
	"github.com/whetstone/whetstone/internal/store"
)

// TestGetJobBodyMatchesFallback checks that GET /jobs/{id} served from the
// store's raw JSON (sqlitestore's GetJobJSON) is byte for byte the body of a
// store without that capability (encoding GetJob's job), for a finished
// two-node job with a dataset profile in its outputs and for 404s.
func TestGetJobBodyMatchesFallback(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.submit(t, "name: p\nnodes: [{id: data, agent: dataset, params: {source: "+alpaca+"}}, {id: m, agent: fakemodel}]\nedges: [{from: data, to: m}]\n")
	if j := e.wait(t, id); j["status"] != "succeeded" {
		t.Fatalf("job = %v", j)
	}
	plain := &api.Server{Store: struct{ store.Store }{e.p.Store}, Blobs: e.p.Blobs, Bus: e.p.Bus, Orch: e.p.Orch}
	ts := httptest.NewServer(plain.Handler())
	defer ts.Close()
	for _, jid := range []string{id, "job_none"} {
		resp, fast := do(t, "GET", e.url+"/jobs/"+jid, "", nil)
		resp2, slow := do(t, "GET", ts.URL+"/api/v1/jobs/"+jid, "", nil)
		if resp.StatusCode != resp2.StatusCode || resp.Header.Get("Content-Type") != resp2.Header.Get("Content-Type") {
			t.Errorf("%s: status/type %d %s, fallback %d %s", jid, resp.StatusCode, resp.Header.Get("Content-Type"), resp2.StatusCode, resp2.Header.Get("Content-Type"))
		}
		if !bytes.Equal(fast, slow) {
			t.Errorf("%s: body\n%s\nfallback body\n%s", jid, fast, slow)
		}
	}
	if _, b := do(t, "GET", e.url+"/jobs/"+id, "", nil); !bytes.Contains(b, []byte(`"outputs":[{"type":"dataset"`)) {
		t.Errorf("body lacks the dataset output: %s", b)
	}
}
