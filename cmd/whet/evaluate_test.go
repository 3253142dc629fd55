package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEvaluateCommand(t *testing.T) {
	t.Parallel()
	root, _ := filepath.Abs("../..")
	base := filepath.Join(root, "..", "shared", "assets", "models", "stories260K")
	adapter := filepath.Join(root, "internal", "engine", "model", "testdata", "stories260K.adapter")
	dir := t.TempDir()
	var rows strings.Builder
	for _, s := range []string{"Tom had a red ball.", "Lily saw a big dog.", "The sun was hot.", "Max ran to the park."} {
		rows.WriteString(`{"prompt":"Once upon a time,","text":"Once upon a time, ` + s + `"}` + "\n")
	}
	os.WriteFile(filepath.Join(dir, "validation.jsonl"), []byte(rows.String()), 0o644)
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"evaluate", "--model", adapter, "--base", base, "--data", dir, "--out", out,
		"--samples", "3", "--max-new-tokens", "8", "--metrics", "loss,perplexity,token_f1", "--compare", "--bootstrap", "50"},
		stdio{out: &stdout, err: &stderr})
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	for _, f := range []string{"evaluation.json", "comparison.json", "comparison.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	for _, want := range []string{"evaluated ", "perplexity", "compared with the base model", "token_f1"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	err = run(t.Context(), []string{"evaluate", "--model", adapter, "--data", dir, "--out", out, "--metrics", "loss,nope"}, stdio{out: &stdout, err: &stderr})
	if err == nil || !strings.Contains(err.Error(), `unknown metric "nope"`) {
		t.Errorf("bad metric: %v", err)
	}
}
