package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/assets"

	"github.com/whetstone/whetstone/internal/store"
)

func repoRoot(t testing.TB) string { return assets.RepoRoot(t) }

// whet runs the command in-process from the repository root and returns
// its exit code, stdout and stderr.
func whet(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return whetCtx(t, context.Background(), args...)
}

// whetCtx is whet under ctx: cancelling it is Ctrl-C.
func whetCtx(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(ctx, args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	var code bytes.Buffer
	c := exitCode(err, &code)
	return c, out.String(), errb.String() + code.String()
}

func writeSpec(t *testing.T, spec string) string {
	p := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(p, []byte(spec), 0o644)
	return p
}

func TestRunExitCodes(t *testing.T) {
	root := repoRoot(t)
	t.Chdir(root) // relative params resolve against the current folder
	outDir := filepath.Join(t.TempDir(), "out")
	ok := writeSpec(t, "name: ok\nnodes:\n  - {id: data, agent: dataset, params: {source: ../shared/assets/datasets/llama-factory/alpaca_en_demo.json}}\n")
	code, stdout, stderr := whet(t, "run", ok, "--out", outDir)
	if code != 0 {
		t.Fatalf("run ok: exit %d\n%s", code, stderr)
	}
	var j store.Job
	if err := json.Unmarshal([]byte(stdout), &j); err != nil || j.Status != store.Succeeded || j.Nodes[0].Outputs[0].Meta["rows"] != float64(999) {
		t.Errorf("final JSON = %s (%v)", stdout, err)
	}
	if !strings.Contains(stderr, "[data] succeeded") || !strings.Contains(stderr, "job succeeded") {
		t.Errorf("progress lines missing:\n%s", stderr)
	}
	for _, f := range []string{"data/data.jsonl", "data/profile.json"} {
		if _, err := os.Stat(filepath.Join(outDir, f)); err != nil {
			t.Errorf("--out: %v", err)
		}
	}

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"failed job", []string{"run", writeSpec(t, "name: bad\nnodes: [{id: data, agent: dataset, params: {source: no/such/file.jsonl}}]\n")}, 1,
			`"status": "failed"`, "no such file or uploaded dataset"},
		{"invalid spec", []string{"run", writeSpec(t, "name: inv\nnodes: [{id: a, agent: nope}, {id: b, agent: dataset}]\n")}, 3,
			"", `node "a": agent: unknown agent "nope"`},
		{"syntax error", []string{"run", writeSpec(t, "name: [\n")}, 3, "", "pipeline spec:"},
		{"no file", []string{"run"}, 2, "", "run needs exactly one pipeline file"},
		{"missing file", []string{"run", "no-such.yaml"}, 2, "", "no such file"},
		{"bad flag", []string{"run", ok, "--concurrency", "-1"}, 2, "", "concurrency"},
		{"validate ok", []string{"validate", ok}, 0, ": ok", ""},
		{"validate lists every error", []string{"validate", writeSpec(t, "name: v\nnodes: [{id: a, agent: dataset, params: {max_rows: -2}}]\nedges: [{from: a, to: z}]\n")}, 1,
			"params.source: is required", `unknown node "z"`},
		{"unknown command", []string{"frobnicate"}, 2, "", "unknown command"},
		{"version", []string{"version"}, 0, "whet ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := whet(t, tt.args...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stdout+stderr, tt.stderr) {
				t.Errorf("whet %v: exit %d, want %d\nstdout: %s\nstderr: %s", tt.args, code, tt.code, stdout, stderr)
			}
		})
	}
}

func TestRunCachesWithDataDir(t *testing.T) {
	t.Chdir(repoRoot(t))
	dd := t.TempDir()
	spec := writeSpec(t, "name: c\nnodes: [{id: data, agent: dataset, params: {source: ../shared/assets/datasets/torchtune/alpaca_tiny.json}}]\n")
	for i, wantCached := range []bool{false, true} {
		code, stdout, stderr := whet(t, "run", spec, "--data-dir", dd)
		var j store.Job
		json.Unmarshal([]byte(stdout), &j)
		if code != 0 || j.Nodes[0].Cached != wantCached {
			t.Errorf("run %d: exit %d cached %v, want cached %v\n%s", i, code, j.Nodes[0].Cached, wantCached, stderr)
		}
	}
}

// The shared examples must validate and run as they are.
func TestExamples(t *testing.T) {
	t.Chdir(repoRoot(t))
	files, _ := filepath.Glob("../shared/examples/*.yaml")
	if len(files) < 2 {
		t.Fatalf("examples: %v", files)
	}
	if code, stdout, stderr := whet(t, append([]string{"validate"}, files...)...); code != 0 {
		t.Fatalf("validate examples: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr := whet(t, "run", "../shared/examples/data-check.yaml", "--quiet")
	var j store.Job
	json.Unmarshal([]byte(stdout), &j)
	if code != 0 || j.Status != store.Succeeded || len(j.Nodes) != 3 {
		t.Fatalf("run data-check: exit %d, status %s\n%s", code, j.Status, stderr)
	}
}

// whet run --dry-run prints the plan and runs nothing: the node is cached
// only after a real run with the same --data-dir.
func TestRunDryRun(t *testing.T) {
	t.Chdir(repoRoot(t))
	dd := t.TempDir()
	spec := writeSpec(t, "name: c\nnodes: [{id: data, agent: dataset, params: {source: ../shared/assets/datasets/torchtune/alpaca_tiny.json}}]\n")
	plan := func() bool {
		t.Helper()
		code, stdout, stderr := whet(t, "run", spec, "--data-dir", dd, "--dry-run")
		var p struct {
			Nodes []struct {
				ID, Agent string
				Cached    bool
				Estimate  *struct{}
			}
		}
		if err := json.Unmarshal([]byte(stdout), &p); err != nil || code != 0 || len(p.Nodes) != 1 || p.Nodes[0].ID != "data" || p.Nodes[0].Estimate != nil {
			t.Fatalf("dry run: exit %d, %v\n%s%s", code, err, stdout, stderr)
		}
		return p.Nodes[0].Cached
	}
	if plan() || plan() {
		t.Fatal("cached before any run")
	}
	if code, _, stderr := whet(t, "run", spec, "--data-dir", dd, "--quiet"); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	if !plan() {
		t.Fatal("not cached after a run")
	}
}

// endlessSource is a named pipe data.jsonl that yields alpaca rows until the
// test ends: a data source a dry run never finishes reading. started is
// closed once a reader has taken the first rows.
func endlessSource(t *testing.T) (path string, started <-chan struct{}) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "data.jsonl")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// Read-write: the open does not wait for a reader, and Close (at the
	// end of the test) unblocks a write that waits for one.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { f.Close(); <-done })
	go func() {
		defer close(done)
		row := []byte(strings.Repeat(`{"instruction": "Say hello.", "input": "", "output": "Hello there."}`+"\n", 64))
		for i := 0; ; i++ {
			if _, err := f.Write(row); err != nil {
				return
			}
			if i == 1024 { // past the pipe's buffer: someone reads
				close(ch)
			}
		}
	}()
	return path, ch
}

// TestRunDryRunStopped: whet run --dry-run is bounded by --dry-run-timeout
// (the server's message: what was stopped, the limit, what to do) and
// stopped by Ctrl-C, exit 1 either way, its scratch folder removed. The
// endless source would keep the dataset agent of a node ahead of train
// reading forever.
func TestRunDryRunStopped(t *testing.T) {
	t.Chdir(repoRoot(t))
	src, started := endlessSource(t)
	endless := writeSpec(t, fmt.Sprintf(`name: endless
nodes:
  - {id: data, agent: dataset, cache: false, params: {source: %q}}
  - {id: tune, agent: train, params: {base_model: ../shared/assets/models/stories260K, method: lora}}
edges: [{from: data, to: tune}]
`, src))
	small := writeSpec(t, "name: c\nnodes: [{id: data, agent: dataset, params: {source: ../shared/assets/datasets/torchtune/alpaca_tiny.json}}]\n")
	tests := []struct {
		name      string
		spec      string
		flags     []string
		interrupt bool // cancel the context (Ctrl-C) once the source is read
		want      []string
	}{
		{"tiny limit", small, []string{"--dry-run-timeout", "1ns"}, false,
			[]string{"dry run timed out", "limit of 1ns (--dry-run-timeout) and was stopped", "raise --dry-run-timeout"}},
		{"endless source", endless, []string{"--dry-run-timeout", "300ms"}, false,
			[]string{"dry run timed out", "limit of 300ms (--dry-run-timeout) and was stopped", "plan it on less data"}},
		{"ctrl-c", endless, nil, true, []string{"dry run interrupted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dd := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.interrupt {
				go func() {
					<-started
					time.Sleep(100 * time.Millisecond)
					cancel()
				}()
			}
			start := time.Now()
			code, stdout, stderr := whetCtx(t, ctx, append([]string{"run", tt.spec, "--dry-run", "--data-dir", dd}, tt.flags...)...)
			took := time.Since(start)
			if code != exitJobFailed || stdout != "" {
				t.Errorf("exit %d, want %d; stdout %q", code, exitJobFailed, stdout)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(dd, "tmp", "plan-*")); len(left) > 0 {
				t.Errorf("scratch folders left: %v", left)
			}
			t.Logf("stopped after %s", took.Round(time.Millisecond))
		})
	}
}
