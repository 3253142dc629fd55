//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/store"
)

// comparison is the part of the compare agent's report these tests read.
type comparison struct {
	Metrics []struct {
		Name                  string
		Improved, Significant bool
		Wins, Losses          int
	}
}

// checkFineTuneWins asserts that the fine-tuned model beats its base on
// each named metric, with a bootstrap interval that excludes no change.
func checkFineTuneWins(t *testing.T, report []byte, metrics ...string) {
	t.Helper()
	var c comparison
	if err := json.Unmarshal(report, &c); err != nil {
		t.Fatalf("comparison report: %v\n%.300s", err, report)
	}
	seen := map[string]bool{}
	for _, m := range c.Metrics {
		seen[m.Name] = true
		for _, want := range metrics {
			if m.Name == want && (!m.Improved || !m.Significant || m.Wins <= m.Losses) {
				t.Errorf("%s: improved %v significant %v wins %d losses %d; want a significant win", m.Name, m.Improved, m.Significant, m.Wins, m.Losses)
			}
		}
	}
	for _, want := range metrics {
		if !seen[want] {
			t.Errorf("metric %s missing from the comparison", want)
		}
	}
}

// The shared example of the whole path (LoRA on stories260K, evaluate,
// compare, export) runs as it is through `whet run`.
func TestStoriesLoraExample(t *testing.T) {
	t.Chdir(repoRoot(t))
	out := t.TempDir()
	code, stdout, stderr := whet(t, "run", "../shared/examples/stories-lora.yaml", "--out", out, "--quiet")
	var j store.Job
	json.Unmarshal([]byte(stdout), &j)
	if code != 0 || j.Status != store.Succeeded || len(j.Nodes) != 7 {
		t.Fatalf("run stories-lora: exit %d, status %s, %d nodes\n%s", code, j.Status, len(j.Nodes), stderr)
	}
	for _, f := range []string{"ship/adapter/adapter_model.safetensors", "ship/merged/model.safetensors",
		"ship/gguf/stories260K-f16.gguf", "ship/gguf/stories260K-q8_0.gguf", "ship/gguf/Modelfile", "versus/comparison.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("output: %v", err)
		}
	}
	report, err := os.ReadFile(filepath.Join(out, "versus", "comparison.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkFineTuneWins(t, report, "loss", "perplexity") // Alpaca is far from stories: the loss must still drop
}

// The story-style pipeline goes through the REST API of a real `whet serve`:
// submitted as YAML, watched to the end, its comparison read back through
// the API (the fine-tuned model wins on the held-out split), its exports
// listed under /models with per-file sha256.
func TestStoriesStyleThroughAPI(t *testing.T) {
	root := repoRoot(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		served <- serve(ctx, append([]string{"--addr", addr, "--data-dir", t.TempDir(), "--work-dir", root, "--poll-interval", "100ms"}, allowRepoAndShared(t)...),
			stdio{in: bytes.NewReader(nil), out: io.Discard, err: &logs})
	}()
	t.Cleanup(func() {
		cancel()
		<-served
	})
	base := "http://" + addr + "/api/v1"
	get := func(path string) []byte {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s %s", path, resp.Status, b)
		}
		return b
	}
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 100 {
			t.Fatalf("server not healthy:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	spec, err := os.ReadFile(filepath.Join(root, "examples", "stories-style.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/jobs", "application/yaml", bytes.NewReader(spec))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ids map[string]string
	json.Unmarshal(b, &ids)
	if resp.StatusCode != http.StatusAccepted || ids["job_id"] == "" {
		t.Fatalf("POST /jobs: %s %s", resp.Status, b)
	}
	id := ids["job_id"]

	var job store.Job
	deadline := time.Now().Add(4 * time.Minute)
	for {
		json.Unmarshal(get("/jobs/"+id), &job)
		if job.Status == store.Succeeded || job.Status == store.Failed || job.Status == store.Cancelled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after 4 minutes", id, job.Status)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if job.Status != store.Succeeded {
		for _, n := range job.Nodes {
			t.Logf("node %s: %s %s", n.ID, n.Status, n.Error)
		}
		t.Fatalf("job %s: %s %s", id, job.Status, job.Error)
	}

	checkFineTuneWins(t, get("/jobs/"+id+"/nodes/versus/outputs/comparison"), "loss", "perplexity", "rouge_l", "token_f1")

	var models struct {
		Models []struct {
			JobID string `json:"job_id"`
			Name  string
			Meta  struct {
				BaseModel string `json:"base_model"`
				Method    string
				Files     []struct {
					Path, SHA256 string
					Size         int64
				}
			}
		}
	}
	json.Unmarshal(get("/models"), &models)
	exported := map[string]bool{}
	for _, m := range models.Models {
		if m.JobID != id {
			continue
		}
		exported[m.Name] = true
		if m.Meta.Method != "lora" || m.Meta.BaseModel == "" || len(m.Meta.Files) == 0 {
			t.Errorf("model %s: method %q base %q files %d", m.Name, m.Meta.Method, m.Meta.BaseModel, len(m.Meta.Files))
		}
		for _, f := range m.Meta.Files {
			if len(f.SHA256) != 64 || f.Size <= 0 {
				t.Errorf("model %s file %s: size %d sha256 %q", m.Name, f.Path, f.Size, f.SHA256)
			}
		}
	}
	if len(exported) < 3 {
		t.Errorf("job %s models %v, want the trained adapter and the adapter, merged and gguf exports", id, exported)
	}
}

// The same pipeline through `whet run`: the comparison written with --out.
func TestStoriesStyleThroughRun(t *testing.T) {
	t.Chdir(repoRoot(t))
	out := t.TempDir()
	code, _, stderr := whet(t, "run", "examples/stories-style.yaml", "--out", out, "--quiet")
	if code != 0 {
		t.Fatalf("run stories-style: exit %d\n%s", code, stderr)
	}
	report, err := os.ReadFile(filepath.Join(out, "versus", "comparison.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkFineTuneWins(t, report, "loss", "perplexity", "rouge_l", "token_f1")
	for _, f := range []string{"ship/gguf/Modelfile", "ship/merged/model.safetensors", "versus/comparison.html", "ship/checks.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("output: %v", err)
		}
	}
	card, err := os.ReadFile(filepath.Join(out, "ship", "gguf", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Comparison with the base model", "| rouge_l |", "## Export checks", "stories260K-f16.gguf", "version `sha256:", "Base model: "} {
		if !strings.Contains(string(card), want) {
			t.Errorf("model card lacks %q:\n%s", want, card)
		}
	}
}

// examples/stories-dpo.yaml: DPO on the shared preference data raises the
// held-out reward accuracy above chance (the lower end of the Wilson
// interval above 0.5), and the compare report shows it.
func TestStoriesDPOThroughRun(t *testing.T) {
	t.Chdir(repoRoot(t))
	out := t.TempDir()
	code, _, stderr := whet(t, "run", "examples/stories-dpo.yaml", "--out", out, "--quiet")
	if code != 0 {
		t.Fatalf("run stories-dpo: exit %d\n%s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "versus", "comparison.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Preference *struct {
			Pairs         int     `json:"pairs"`
			BaseTies      int     `json:"base_ties"`
			TunedAccuracy float64 `json:"tuned_reward_accuracy"`
			Lo            float64 `json:"tuned_reward_accuracy_lo"`
		} `json:"preference"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	p := c.Preference
	if p == nil || p.Pairs < 60 || p.BaseTies != p.Pairs {
		t.Fatalf("preference section: %+v", p)
	}
	t.Logf("held-out reward accuracy %.3f on %d pairs (interval from %.3f)", p.TunedAccuracy, p.Pairs, p.Lo)
	if p.Lo <= 0.5 {
		t.Errorf("held-out reward accuracy %.3f, interval from %.3f: not above chance", p.TunedAccuracy, p.Lo)
	}
	html, _ := os.ReadFile(filepath.Join(out, "versus", "comparison.html"))
	if !bytes.Contains(html, []byte("Preference (DPO), held-out pairs")) {
		t.Error("comparison.html has no preference section")
	}
}
