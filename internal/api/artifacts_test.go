package api_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNodeOutputs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := e.submit(t, `name: outputs
nodes:
  - {id: data, agent: dataset, params: {source: `+alpaca+`}}
  - {id: tune, agent: fakemodel}
edges: [{from: data, to: tune}]
`)
	if j := e.wait(t, id); j["status"] != "succeeded" {
		t.Fatalf("job = %v", j)
	}
	// The job carries its spec, so clients can redraw and re-run it.
	_, b := do(t, "GET", e.url+"/jobs/"+id, "", nil)
	var job struct {
		Spec struct {
			Nodes []struct{ ID string }
			Edges []struct{ From, To string }
		}
	}
	if err := json.Unmarshal(b, &job); err != nil || len(job.Spec.Nodes) != 2 || len(job.Spec.Edges) != 1 || job.Spec.Edges[0].From != "data" {
		t.Errorf("job spec = %+v (%v), want 2 nodes and the edge data→tune", job.Spec, err)
	}
	base := e.url + "/jobs/" + id + "/nodes/"

	// A report comes back as the agent's JSON.
	resp, b := do(t, "GET", base+"data/outputs/profile", "", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("profile: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var profile map[string]any
	if err := json.Unmarshal(b, &profile); err != nil || profile["rows"] != 999.0 {
		t.Errorf("profile = %v (%v), want 999 rows", profile, err)
	}

	// A folder comes back as a tar of its files, or one file with ?file=.
	resp, b = do(t, "GET", base+"tune/outputs/model", "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-tar" {
		t.Fatalf("model folder: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	files := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		c, _ := io.ReadAll(tr)
		files[h.Name] = string(c)
	}
	if diff := cmp.Diff(map[string]string{"config.json": `{"dim": 64}`, "weights.bin": "0123456789abcdef"}, files); diff != "" {
		t.Errorf("tar (-want +got):\n%s", diff)
	}
	resp, b = do(t, "GET", base+"tune/outputs/model?file=weights.bin", "", nil, "Range", "bytes=2-5")
	if resp.StatusCode != 206 || string(b) != "2345" {
		t.Errorf("ranged file: %d %q", resp.StatusCode, b)
	}

	tests := []struct {
		url    string
		status int
	}{
		{base + "nope/outputs/profile", 404},
		{base + "data/outputs/nope", 404},
		{e.url + "/jobs/job_missing/nodes/data/outputs/profile", 404},
		{base + "tune/outputs/model?file=../../data/profile", 400},
		{base + "tune/outputs/model?file=missing.bin", 404},
		{base + "data/outputs/profile?file=x", 400},
	}
	for _, tt := range tests {
		resp, b := do(t, "GET", tt.url, "", nil)
		if resp.StatusCode != tt.status {
			t.Errorf("GET %s = %d %s, want %d", tt.url, resp.StatusCode, b, tt.status)
		}
	}
}
