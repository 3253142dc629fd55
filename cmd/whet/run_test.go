package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"

	"github.com/whetstone/whetstone/internal/store"
)

func repoRoot(t testing.TB) string { return assets.RepoRoot(t) }

// whet runs the command in-process from the repository root and returns
// its exit code, stdout and stderr.
func whet(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
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
