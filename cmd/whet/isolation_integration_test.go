//go:build integration

package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/store"
)

// TestIntegrationAgentOutOfMemory runs a node whose agent allocates without
// bound (the hog test agent, standing in for a model config or data file
// that makes a real agent do so) on a real `whet serve`: each attempt's
// agent process is killed at its memory limit, the node fails with that
// reason once its attempts are spent (not redelivered forever), and the
// server itself stays up, under 300 MB, and runs the next job.
func TestIntegrationAgentOutOfMemory(t *testing.T) {
	bin := buildWhet(t)
	s := startServer(t, bin, t.TempDir(), "--agent-memory-limit", "209715200", // 200 MiB
		"--retry-base", "100ms", "--retry-max", "200ms", "--poll-interval", "100ms")
	submit := func(spec string) string {
		t.Helper()
		resp, err := http.Post(s.url+"/jobs", "application/json", strings.NewReader(spec))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sub struct {
			JobID string `json:"job_id"`
		}
		json.NewDecoder(resp.Body).Decode(&sub)
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusAccepted {
			t.Fatalf("submit: %d", resp.StatusCode)
		}
		return sub.JobID
	}
	wait := func(id string) store.Job {
		t.Helper()
		var j store.Job
		for start := time.Now(); time.Since(start) < 90*time.Second; time.Sleep(100 * time.Millisecond) {
			getJSON(t, s.url+"/jobs/"+id, &j)
			if j.Status.Terminal() {
				return j
			}
			if s.cmd.ProcessState != nil {
				t.Fatalf("the server exited:\n%s", s.log.String())
			}
		}
		t.Fatalf("job %s still %s after 90s:\n%s", id, j.Status, s.log.String())
		return j
	}

	j := wait(submit(`{"name": "hog", "nodes": [{"id": "h", "agent": "hog", "max_attempts": 2}]}`))
	if j.Status != store.Failed {
		t.Fatalf("job %s, want failed", j.Status)
	}
	n := j.Nodes[0]
	const want = "agent process killed: it used"
	if n.Status != store.Failed || n.Attempts != 2 || !strings.Contains(n.Error, want) || !strings.Contains(n.Error, "over the agent memory limit of 200 MB") {
		t.Errorf("node %s after %d attempts: %q, want failed after 2 attempts with %q...", n.Status, n.Attempts, n.Error, want)
	}
	t.Logf("node failed after %d attempts: %s", n.Attempts, n.Error)
	if !strings.Contains(j.Error, "over the agent memory limit") {
		t.Errorf("job error %q does not give the reason", j.Error)
	}
	if peak := rss(t, s.cmd.Process.Pid); peak > 300<<20 {
		t.Errorf("server peak RSS %d MiB, want under 300", peak>>20)
	}
	// The same server runs the next job.
	if j := wait(submit(`{"name": "after", "nodes": [{"id": "a", "agent": "hog", "params": {"mb": 32}}]}`)); j.Status != store.Succeeded {
		t.Fatalf("next job %s (%s)", j.Status, j.Error)
	}
	if resp, err := http.Get(s.url + "/health"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("server unhealthy: %v", err)
	}
}

// TestIntegrationDryRunIsolated plans the shared stories-lora example on a
// real `whet serve`, with a worker and API-only (--no-worker): agents run in
// child processes there, and the dry run still gets train's estimate (made
// by the agent process: the warm-up loads the model and trains 3 steps),
// with the data nodes ahead of it run in a scratch folder.
func TestIntegrationDryRunIsolated(t *testing.T) {
	bin := buildWhet(t)
	spec, err := os.ReadFile(filepath.Join(repoRoot(t), "..", "shared", "examples", "stories-lora.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{nil, {"--no-worker"}} {
		t.Run(strings.Join(append([]string{"serve"}, args...), " "), func(t *testing.T) {
			s := startServer(t, bin, t.TempDir(), args...)
			resp, err := http.Post(s.url+"/jobs?dry_run=true", "application/yaml", bytes.NewReader(spec))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var plan struct {
				Nodes []struct {
					ID       string          `json:"id"`
					Estimate *agent.Estimate `json:"estimate"`
					Error    string          `json:"error"`
				} `json:"nodes"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&plan); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("dry run: %d %v\n%s", resp.StatusCode, err, s.log.String())
			}
			var tune *agent.Estimate
			for _, n := range plan.Nodes {
				if n.Error != "" {
					t.Errorf("node %s: %s", n.ID, n.Error)
				}
				if n.ID == "tune" {
					tune = n.Estimate
				}
			}
			if tune == nil || tune.MemoryBytes <= 0 || tune.Steps != 30 || tune.Tokens <= 0 || tune.Seconds <= 0 {
				t.Fatalf("train estimate %+v, want memory, 30 steps, tokens and seconds\n%s", tune, s.log.String())
			}
			t.Logf("train estimate: %d MB, %d tokens, %d steps, %.1f s", tune.MemoryBytes>>20, tune.Tokens, tune.Steps, tune.Seconds)
		})
	}
}
