package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDataCommand(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	dir := t.TempDir()
	// The test runs in cmd/whet: the shared assets are two levels up, then ../shared.
	src := filepath.Join("..", "..", "..", "shared", "assets", "datasets", "llama-factory", "alpaca_en_demo.json")
	err := run(context.Background(), []string{"data", src, "--prep", "--dedup", "exact", "--out", dir, "--max-tokens", "0"}, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"alpaca (source format alpaca), 999 rows", "duplicate                    14", "preprocess (alpaca): 999 rows in"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, f := range []string{"dataset/profile.json", "validate/validation.json", "preprocess/data/train.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	// A failing validation is an error naming the line.
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"text\": \"a fine row of text here\"}\n{\"text\": \n"), 0o644)
	err = run(context.Background(), []string{"data", bad}, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	if err == nil || !strings.Contains(err.Error(), "source lines 2") {
		t.Errorf("broken file: %v", err)
	}
}
