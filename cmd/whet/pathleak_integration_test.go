//go:build integration

package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/store"
)

// TestNoServerPathsThroughAPI runs the shared stories-lora example on a real
// `whet serve` and reads back everything a team's user can read: jobs, every
// node output (reports as JSON, folders as tar, each file's content),
// models and their files, datasets (one uploaded), the job's history and its
// event stream. No
// body may name the server's data folder (blobs, scratch, cache), the temp
// folder it lives under, or the absolute form of the work folder the
// pipeline's relative paths resolve against: a user of a team must not learn
// the server's folder layout from the API.
func TestNoServerPathsThroughAPI(t *testing.T) {
	root := repoRoot(t)
	dataDir := t.TempDir()
	base := inProcessServer(t, dataDir)
	api := base + "/api/v1"

	forbidden := map[string]string{
		"data folder":            dataDir,
		"temp dir of the server": filepath.Dir(dataDir),
		"work folder":            root,
		"shared assets folder":   filepath.Clean(filepath.Join(root, "..", "shared")),
		"system temp folder":     filepath.Clean(os.TempDir()) + string(filepath.Separator),
	}
	for what, p := range forbidden {
		if r, err := filepath.EvalSymlinks(p); err == nil && r != p && r+string(filepath.Separator) != p {
			forbidden[what+" (resolved)"] = r
		}
	}
	checked := 0
	check := func(where string, body []byte) {
		t.Helper()
		checked++
		for what, p := range forbidden {
			if i := bytes.Index(body, []byte(p)); i >= 0 {
				lo, hi := max(0, i-120), min(len(body), i+len(p)+80)
				t.Errorf("%s names the %s %s: ...%s...", where, what, p, body[lo:hi])
			}
		}
	}
	get := func(path string) ([]byte, http.Header) {
		t.Helper()
		resp, err := http.Get(api + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %v %.300s", path, resp.Status, err, b)
		}
		check("GET "+path, b)
		for k, vs := range resp.Header {
			for _, v := range vs {
				check("GET "+path+" header "+k, []byte(v))
			}
		}
		return b, resp.Header
	}
	// checkTar checks each file of a tar body by name and content.
	checkTar := func(where string, b []byte) {
		t.Helper()
		tr := tar.NewReader(bytes.NewReader(b))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("%s: tar: %v", where, err)
			}
			check(where+" tar name", []byte(h.Name))
			f, _ := io.ReadAll(tr)
			check(where+" file "+h.Name, f)
		}
	}

	// An uploaded dataset.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "mini.jsonl")
	fw.Write([]byte(`{"instruction": "Say hi", "output": "hi"}` + "\n" + `{"instruction": "Say bye", "output": "bye"}` + "\n"))
	mw.Close()
	resp, err := http.Post(api+"/datasets/upload", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %s %s", resp.Status, up)
	}
	check("POST /datasets/upload", up)

	spec, err := os.ReadFile(filepath.Join(root, "..", "shared", "examples", "stories-lora.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The dry run (data nodes run in a scratch folder) and a refused
	// pipeline (a missing file) answer without the server's folders too.
	post := func(path, body string, want int) {
		t.Helper()
		resp, err := http.Post(api+path, "application/yaml", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: %s, want %d: %.300s", path, resp.Status, want, b)
		}
		check("POST "+path, b)
	}
	post("/jobs?dry_run=true", string(spec), http.StatusOK)
	post("/jobs", "nodes:\n  - {id: data, agent: dataset, params: {source: examples/no-such-file.jsonl}}\n", http.StatusUnprocessableEntity)
	id := submitYAML(t, base, string(spec))
	start := time.Now()
	if st := waitJob(t, base, id, func(s string) bool { return store.Status(s).Terminal() }, 15*time.Minute); st != string(store.Succeeded) {
		b, _ := get("/jobs/" + id)
		t.Fatalf("job %s: %s\n%s", id, st, b)
	}
	t.Logf("stories-lora ran in %s", time.Since(start).Round(time.Second))

	// A job that fails reading a server folder: its error and log say what,
	// not where.
	bad := submitYAML(t, base, "name: bad\nnodes:\n  - {id: data, agent: dataset, max_attempts: 1, params: {source: internal/api}}\n")
	waitJob(t, base, bad, func(s string) bool { return store.Status(s).Terminal() }, 2*time.Minute)
	if b, _ := get("/jobs/" + bad); !bytes.Contains(b, []byte(`"status":"failed"`)) {
		t.Errorf("a dataset of Go sources did not fail: %.500s", b)
	} else {
		t.Logf("failed job: %.400s", b[bytes.Index(b, []byte(`"error"`)):])
	}
	get("/logs/history/" + bad)

	get("/jobs")
	b, _ := get("/jobs/" + id)
	var job store.Job
	if err := json.Unmarshal(b, &job); err != nil {
		t.Fatal(err)
	}
	outputs := 0
	for _, n := range job.Nodes {
		for _, a := range n.Outputs {
			if a.URI == "" {
				continue
			}
			outputs++
			p := "/jobs/" + id + "/nodes/" + n.ID + "/outputs/" + a.Name
			b, h := get(p)
			if h.Get("Content-Type") == "application/x-tar" {
				checkTar("GET "+p, b)
			}
		}
	}
	if outputs < 10 {
		t.Errorf("only %d stored node outputs read, want the reports, datasets and models of 7 nodes", outputs)
	}
	get("/logs/history/" + id + "?limit=1000")
	if b, _ := get("/logs/stream/" + id); !bytes.Contains(b, []byte("event: status")) { // ended: replays and closes
		t.Errorf("the event stream of an ended job replayed no status event: %.300s", b)
	}

	b, _ = get("/models?limit=1000")
	var models struct{ Models []store.Model }
	json.Unmarshal(b, &models)
	if len(models.Models) < 3 {
		t.Errorf("%d models, want the trained adapter and the exports", len(models.Models))
	}
	for _, m := range models.Models {
		get("/models/" + m.ID)
		for _, f := range m.Files { // GGUF and safetensors too: their metadata is text
			get("/models/" + m.ID + "/download?file=" + url.QueryEscape(f))
		}
	}

	b, _ = get("/datasets?limit=1000")
	var sets struct {
		Datasets []store.Dataset
	}
	json.Unmarshal(b, &sets)
	if len(sets.Datasets) == 0 {
		t.Errorf("no datasets listed after an upload")
	}
	for _, d := range sets.Datasets {
		get("/datasets/" + d.ID)
	}
	t.Logf("%d bodies and headers checked, %d node outputs, %d models, %d datasets", checked, outputs, len(models.Models), len(sets.Datasets))
}
