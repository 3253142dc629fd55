package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// inProcessServer runs `whet serve` on dataDir in this process until the test
// ends, and returns its base URL.
func inProcessServer(t *testing.T, dataDir string, extra ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	logs := &lockedLog{}
	args := append(append([]string{"--addr", addr, "--data-dir", dataDir, "--work-dir", repoRoot(t), "--poll-interval", "100ms"}, allowRepoAndShared(t)...), extra...)
	go func() { served <- serve(ctx, args, stdio{in: bytes.NewReader(nil), out: io.Discard, err: logs}) }()
	t.Cleanup(func() {
		cancel()
		<-served
	})
	waitHealthy(t, "http://"+addr+"/health", logs)
	return "http://" + addr
}

func apiGet(t *testing.T, url string, v any) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return b
}

func submitYAML(t *testing.T, base, spec string) string {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/jobs", "application/yaml", strings.NewReader(spec))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct {
		JobID string `json:"job_id"`
	}
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &out) != nil {
		t.Fatalf("POST /jobs: %s %s", resp.Status, b)
	}
	return out.JobID
}

func waitJob(t *testing.T, base, id string, want func(status string) bool, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var j struct{ Status string }
		apiGet(t, base+"/api/v1/jobs/"+id, &j)
		if want(j.Status) {
			return j.Status
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("job %s: not in the wanted state after %s", id, within)
	return ""
}

// TestBackupWhileTrainingThenRestore takes `whet backup` while a training
// job runs, restores it into a new folder with `whet restore`, and checks a
// server on the restored folder lists the same jobs, datasets and models and
// serves their files with the same SHA-256.
func TestBackupWhileTrainingThenRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	src := t.TempDir()
	base := inProcessServer(t, src)

	// An uploaded dataset.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "log-stories.jsonl")
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "log-stories.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.WriteField("name", "stories")
	mw.Close()
	resp, err := http.Post(base+"/api/v1/datasets/upload", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	ub, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ds struct {
		DatasetID string `json:"dataset_id"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(ub, &ds) != nil {
		t.Fatalf("upload: %s %s", resp.Status, ub)
	}
	tune := func(name string, steps int) string {
		return `name: ` + name + `
nodes:
  - {id: data, agent: dataset, params: {source: ` + ds.DatasetID + `}}
  - {id: prep, agent: preprocess, params: {tokenizer: ../shared/assets/models/stories260K, template: none, max_tokens: 64, validation_split: 0.2, seed: 1}}
  - {id: tune, agent: train, params: {base_model: ../shared/assets/models/stories260K, method: lora, epochs: 1000, max_steps: ` + itoa(steps) + `, batch_size: 4, max_seq_len: 64, seed: 1, checkpoint_every: 20}}
edges: [{from: data, to: prep}, {from: prep, to: tune}]
`
	}
	done := submitYAML(t, base, tune("finished", 10))
	waitJob(t, base, done, func(s string) bool { return s == "succeeded" }, 3*time.Minute)
	running := submitYAML(t, base, tune("running", 100000))
	waitJob(t, base, running, func(s string) bool { return s == "running" }, time.Minute)
	time.Sleep(2 * time.Second) // well into training: checkpoints and events being written

	bdir := filepath.Join(t.TempDir(), "backup")
	var out bytes.Buffer
	if err := backupCmd(context.Background(), []string{"--to", bdir, "--data-dir", src}, stdio{out: &out, err: io.Discard}); err != nil {
		t.Fatalf("whet backup: %v", err)
	}
	// The job was still running when the backup finished.
	var j struct{ Status string }
	apiGet(t, base+"/api/v1/jobs/"+running, &j)
	if j.Status != "running" {
		t.Fatalf("the training job is %s; the backup should be taken while it runs", j.Status)
	}
	http.DefaultClient.Do(mustReq(t, "DELETE", base+"/api/v1/jobs/"+running))

	dst := t.TempDir()
	if err := restoreCmd(context.Background(), []string{"--from", bdir, "--data-dir", dst}, stdio{out: &out, err: io.Discard}); err != nil {
		t.Fatalf("whet restore: %v", err)
	}
	// Restoring over an existing database is refused.
	if err := restoreCmd(context.Background(), []string{"--from", bdir, "--data-dir", dst}, stdio{out: io.Discard, err: io.Discard}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second restore into the same folder: %v", err)
	}
	rbase := inProcessServer(t, dst)
	http.DefaultClient.Do(mustReq(t, "DELETE", rbase+"/api/v1/jobs/"+running)) // it would resume there

	ids := func(b string, path, field string) []string {
		var l map[string]any
		apiGet(t, b+"/api/v1/"+path+"?limit=100", &l)
		var out []string
		for _, k := range []string{"jobs", "datasets", "models", "items"} {
			if arr, ok := l[k].([]any); ok {
				for _, x := range arr {
					out = append(out, x.(map[string]any)[field].(string))
				}
			}
		}
		sort.Strings(out)
		return out
	}
	for _, c := range []struct{ path, field string }{{"jobs", "job_id"}, {"datasets", "dataset_id"}, {"models", "model_id"}} {
		a, b := ids(base, c.path, c.field), ids(rbase, c.path, c.field)
		if len(a) == 0 || strings.Join(a, ",") != strings.Join(b, ",") {
			t.Errorf("%s: source %v, restored %v", c.path, a, b)
		}
	}
	var d1, d2 map[string]any
	apiGet(t, base+"/api/v1/datasets/"+ds.DatasetID, &d1)
	apiGet(t, rbase+"/api/v1/datasets/"+ds.DatasetID, &d2)
	if d1["sha256"] == nil || d1["sha256"] != d2["sha256"] {
		t.Errorf("dataset sha256: %v vs %v", d1["sha256"], d2["sha256"])
	}
	// Every file of every model, downloaded from both servers.
	var models struct {
		Models []struct {
			ID    string   `json:"model_id"`
			Files []string `json:"files"`
		}
	}
	apiGet(t, base+"/api/v1/models?limit=100", &models)
	files := 0
	for _, m := range models.Models {
		for _, f := range m.Files {
			a := sum(apiGet(t, base+"/api/v1/models/"+m.ID+"/download?file="+f, nil))
			b := sum(apiGet(t, rbase+"/api/v1/models/"+m.ID+"/download?file="+f, nil))
			if a != b {
				t.Errorf("model %s file %s: sha256 %s, restored %s", m.ID, f, a, b)
			}
			files++
		}
	}
	if files == 0 {
		t.Errorf("no model files compared")
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func itoa(n int) string { return strconv.Itoa(n) }

func mustReq(t *testing.T, method, url string) *http.Request {
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
