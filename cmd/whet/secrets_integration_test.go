//go:build integration

package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// evalSpec is a pipeline whose evaluate node calls an LLM judge at url with
// key.
func evalSpec(url, key string) string {
	return fmt.Sprintf(`name: judged
nodes:
  - {id: d, agent: dataset, params: {source: ../shared/assets/datasets/llama-factory/alpaca_en_demo.json}}
  - {id: p, agent: preprocess, params: {tokenizer: ../shared/assets/models/stories260K}}
  - {id: t, agent: train, params: {base_model: ../shared/assets/models/stories260K, max_steps: 1}}
  - {id: e, agent: evaluate, params: {metrics: [judge], judge_url: %q, judge_key: %q, judge_model: m}}
edges: [{from: d, to: p}, {from: p, to: t}, {from: t, to: e}, {from: p, to: e}]
`, url, key)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestIntegrationHardeningSecrets: judge_url pointing at loopback or a
// cloud metadata address is refused at submission (SSRF), and judge_key is
// sealed: GET /jobs, GET /jobs/{id}, the events and the database hold no
// plaintext.
func TestIntegrationHardeningSecrets(t *testing.T) {
	bin := buildWhet(t)
	data := t.TempDir()
	s := startServer(t, bin, data)
	const key = "sk-live-ISSUE10-0123456789abcdef"
	for _, url := range []string{"http://127.0.0.1:8080/v1", "http://localhost:9/v1", "http://169.254.169.254/latest", "http://10.0.0.7/v1"} {
		start := time.Now()
		resp, err := http.Post(s.url+"/jobs", "application/yaml", strings.NewReader(evalSpec(url, key)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 422 || !strings.Contains(string(b), "judge_url") || strings.Contains(string(b), key) {
			t.Errorf("judge_url %s: %d %s, want 422 naming judge_url", url, resp.StatusCode, b)
		}
		t.Logf("judge_url %s: %d in %s", url, resp.StatusCode, time.Since(start))
	}
	resp, err := http.Post(s.url+"/jobs", "application/yaml", strings.NewReader(evalSpec("https://judge.example.com/v1", key)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("POST /jobs = %d %s", resp.StatusCode, b)
	}
	var job struct {
		JobID string `json:"job_id"`
	}
	json.Unmarshal(b, &job)
	defer http.Post(s.url+"/jobs/"+job.JobID+"/cancel", "", nil)
	for _, path := range []string{"/jobs", "/jobs/" + job.JobID, "/jobs?limit=2"} {
		code, body := get(t, s.url+path)
		if code != 200 || strings.Contains(body, key) || strings.Contains(body, "0123456789abcdef") {
			t.Errorf("GET %s = %d and holds the key: %.300s", path, code, body)
		}
		if !strings.Contains(body, "whet-secret:v2:") {
			t.Errorf("GET %s: no sealed reference for judge_key", path)
		}
	}

	time.Sleep(500 * time.Millisecond)
	filepath.Walk(data, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || info.Size() > 64<<20 {
			return nil
		}
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(key)) {
			t.Errorf("%s holds judge_key in the clear", p)
		}
		return nil
	})
	if strings.Contains(s.log.String(), key) {
		t.Error("the server log holds judge_key")
	}
}

// waitEnded polls a job until it ends and returns its status, the error of
// its failed node and how long it took.
func waitEnded(t *testing.T, url, id string) (status, errMsg string, took time.Duration) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 60*time.Second {
		_, body := get(t, url+"/jobs/"+id)
		var j struct {
			Status string `json:"status"`
			Nodes  []struct {
				Status string `json:"status"`
				Error  string `json:"error"`
			} `json:"nodes"`
		}
		json.Unmarshal([]byte(body), &j)
		if j.Status == "failed" || j.Status == "succeeded" || j.Status == "cancelled" {
			for _, n := range j.Nodes {
				if n.Error != "" {
					errMsg = n.Error
				}
			}
			return j.Status, errMsg, time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("job %s did not end", id)
	return
}

// TestIntegrationHardeningFiles feeds issue 10's bad files to a real server
// as dataset sources: each fails its node with a clear reason, quickly, and
// the server's RSS stays under 300 MB.
func TestIntegrationHardeningFiles(t *testing.T) {
	bin := buildWhet(t)
	files := t.TempDir()
	pq := make([]byte, 112)
	copy(pq, "PAR1")
	binary.LittleEndian.PutUint32(pq[104:], 0xFFFFFFF0)
	copy(pq[108:], "PAR1")
	os.WriteFile(filepath.Join(files, "bomb.parquet"), pq, 0o644)
	writeGzipBombFile(t, filepath.Join(files, "bomb.jsonl.gz"))
	s := startServer(t, bin, t.TempDir(), "--allow-path", files)
	for _, c := range []struct{ file, want string }{
		{"bomb.parquet", "footer length 4294967280"},
		{"bomb.jsonl.gz", "over the 100:1 limit"},
	} {
		spec := fmt.Sprintf("name: x\nnodes: [{id: d, agent: dataset, params: {source: %q}}]\n", filepath.Join(files, c.file))
		resp, err := http.Post(s.url+"/jobs", "application/yaml", strings.NewReader(spec))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var job struct {
			JobID string `json:"job_id"`
		}
		json.Unmarshal(b, &job)
		status, msg, took := waitEnded(t, s.url, job.JobID)
		t.Logf("%s: %s in %s: %s", c.file, status, took, msg)
		if status != "failed" || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %s %q, want failed with %q", c.file, status, msg, c.want)
		}
		if took > 2*time.Second {
			t.Errorf("%s: took %s", c.file, took)
		}
	}
	if peak := rss(t, s.cmd.Process.Pid); peak > 300<<20 {
		t.Errorf("server peak RSS %d MiB, want under 300", peak>>20)
	} else {
		t.Logf("server peak RSS %d MiB", peak>>20)
	}
}

// writeGzipBombFile writes a gzip of about 37 MB that inflates to 6 GB of
// JSONL rows (as internal/data/reader's test).
func writeGzipBombFile(t *testing.T, path string) {
	r := rand.New(rand.NewSource(1))
	var u bytes.Buffer
	pad := strings.Repeat("a", 1250)
	for u.Len() < 1<<20 {
		k := make([]byte, 4)
		for i := range k {
			k[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[r.Intn(36)]
		}
		fmt.Fprintf(&u, "{\"instruction\": \"%s%s\", \"output\": \"ok\"}\n", k, pad)
	}
	var c bytes.Buffer
	w, _ := gzip.NewWriterLevel(&c, gzip.BestCompression)
	w.Write(u.Bytes())
	w.Close()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for n := int64(0); n < 6e9; n += int64(u.Len()) {
		f.Write(c.Bytes())
	}
}
