package orchestrate

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
)

// TestLineageBaseModel: a model's lineage names its base model by folder
// name and content version (config.json and weight files), never by server
// path; downstream outputs inherit both; the version follows the weights,
// not the tokenizer; files are hashed once per path, size and mtime.
func TestLineageBaseModel(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tiny-base")
	write := func(name, content string, mtime time.Time) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	write("config.json", `{"model_type":"llama"}`, t0)
	write("model-00001-of-00002.safetensors", "weights one", t0)
	write("model-00002-of-00002.safetensors", "weights two", t0)
	write("tokenizer.json", `{"v":1}`, t0)
	write("sub/model.safetensors", "not at the top", t0)
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return fmt.Sprintf("%x", h) }
	wantVersion := func(w1 string) string {
		listing := "config.json " + sum(`{"model_type":"llama"}`) + "\n" +
			"model-00001-of-00002.safetensors " + sum(w1) + "\n" +
			"model-00002-of-00002.safetensors " + sum("weights two") + "\n"
		return "sha256:" + sum(listing)
	}

	o := &Orchestrator{}
	lineage := func(inputs []agent.Artifact) (agent.Artifact, map[string]any) {
		t.Helper()
		outs := []agent.Artifact{{Type: agent.Model, Name: "model", Meta: map[string]any{"base_model": dir}}}
		o.addLineage(context.Background(), "", inputs, nil, outs)
		l, _ := outs[0].Meta[lineageKey].(map[string]any)
		return outs[0], l
	}
	train, l := lineage(nil)
	if l["base_model"] != "tiny-base" || l["base_model_version"] != wantVersion("weights one") {
		t.Fatalf("lineage = %v; want base_model tiny-base, base_model_version %s", l, wantVersion("weights one"))
	}
	if b, _ := json.Marshal(l); strings.Contains(string(b), dir) || strings.Contains(string(b), string(filepath.Separator)+"tiny-base") {
		t.Errorf("lineage %s names the server path %s", b, dir)
	}
	// Downstream (an export of the trained model): inherited as it is.
	if _, down := lineage([]agent.Artifact{train}); down["base_model"] != "tiny-base" || down["base_model_version"] != l["base_model_version"] {
		t.Errorf("downstream lineage = %v, want the train output's %v", down, l)
	}
	// Inputs recorded before lineage used names (a server path): normalised.
	old := agent.Artifact{Type: agent.Model, Meta: map[string]any{lineageKey: map[string]any{"base_model": dir, "datasets": []any{}}}}
	if _, down := lineage([]agent.Artifact{old}); down["base_model"] != "tiny-base" || down["base_model_version"] != l["base_model_version"] {
		t.Errorf("lineage from a path-style input = %v, want tiny-base and %v", down, l["base_model_version"])
	}

	// The tokenizer is not part of the version; the weights are.
	write("tokenizer.json", `{"v":2}`, t0.Add(time.Minute))
	if _, l2 := lineage(nil); l2["base_model_version"] != l["base_model_version"] {
		t.Errorf("tokenizer change moved the version: %v -> %v", l["base_model_version"], l2["base_model_version"])
	}
	write("model-00001-of-00002.safetensors", "weights ONE", t0.Add(time.Minute))
	if _, l2 := lineage(nil); l2["base_model_version"] != wantVersion("weights ONE") {
		t.Errorf("after new weights: version %v, want %s", l2["base_model_version"], wantVersion("weights ONE"))
	}
	// Hashed once per path, size and mtime: same size and mtime are not read again.
	write("model-00001-of-00002.safetensors", "weights 1!1", t0.Add(time.Minute))
	if _, l2 := lineage(nil); l2["base_model_version"] != wantVersion("weights ONE") {
		t.Errorf("a file with the same size and mtime was read again: version %v", l2["base_model_version"])
	}

	// A path that cannot be read: the name, no version.
	outs := []agent.Artifact{{Type: agent.Model, Meta: map[string]any{"base_model": filepath.Join(dir, "gone")}}}
	o.addLineage(context.Background(), "", nil, nil, outs)
	if l3 := outs[0].Meta[lineageKey].(map[string]any); l3["base_model"] != "gone" || l3["base_model_version"] != nil {
		t.Errorf("lineage of a missing base = %v, want the name without a version", l3)
	}
}

// A named pipe as a source (possible where no policy applies: whet run) is
// not hashed for the cache key: with no writer, opening it would block.
func TestFileSumSkipsSpecialFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "rows.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan string, 1)
	go func() {
		sum, _ := (&Orchestrator{}).contentSum(fifo)
		done <- sum
	}()
	select {
	case sum := <-done:
		if sum != "" {
			t.Errorf("contentSum of a named pipe = %q, want none", sum)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("contentSum blocked on a named pipe")
	}
}
