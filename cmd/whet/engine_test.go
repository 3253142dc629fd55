package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func stories(t *testing.T) string {
	t.Helper()
	return filepath.Join("..", "..", "..", "shared", "assets", "models", "stories260K")
}

func whetRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return out.String(), err
}

func TestGenerateStoriesFromBOS(t *testing.T) {
	t.Parallel()
	out, err := whetRun(t, "generate", "--model", stories(t), "--prompt", "", "--temperature", "0", "--max-new-tokens", "40")
	if err != nil {
		t.Fatal(err)
	}
	const want = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
	if !strings.HasPrefix(out, want) {
		t.Fatalf("generated %q, want it to begin %q", out, want)
	}
}

func TestScore(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "s.txt")
	os.WriteFile(f, []byte("Once upon a time, there was a little girl named Lily. She loved to play outside in the park."), 0o644)
	out, err := whetRun(t, "score", "--model", stories(t), "--text-file", f)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Tokens     int     `json:"tokens"`
		MeanLoss   float64 `json:"mean_loss"`
		Perplexity float64 `json:"perplexity"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	// The model generates this sentence itself, so its loss is low.
	if r.Tokens < 20 || r.MeanLoss <= 0 || r.MeanLoss > 1.5 || r.Perplexity < 1 {
		t.Fatalf("score %+v", r)
	}
}

func TestTrainThenGenerateWithAdapter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "d.jsonl")
	var b strings.Builder
	for i := range 32 {
		fmt.Fprintf(&b, `{"prompt":"Q%d: what did the cat say?","text":"Q%d: what did the cat say? The cat said meow."}`+"\n", i, i)
	}
	os.WriteFile(data, []byte(b.String()), 0o644)
	out := filepath.Join(dir, "out")
	res, err := whetRun(t, "train", "--model", stories(t), "--data", data, "--out", out, "--epochs", "3", "--lr", "5e-3",
		"--batch-size", "8", "--max-seq-len", "64", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res, "trained 12 steps") {
		t.Fatalf("train output %q", res)
	}
	gen, err := whetRun(t, "generate", "--model", stories(t), "--adapter", out, "--prompt", "Q7: what did the cat say?", "--max-new-tokens", "8")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(gen, "The cat said meow") {
		t.Fatalf("adapter generation %q lacks the trained answer", gen)
	}
}

func TestBenchTrain(t *testing.T) {
	t.Parallel()
	tiny := filepath.Join("..", "..", "internal", "engine", "model", "testdata", "tiny-llama")
	out, err := whetRun(t, "bench", "train", "--model", tiny, "--method", "full", "--seq", "16", "--batch", "2", "--steps", "3", "--peak=false")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^tokens_per_s=[0-9.]+\n$`).MatchString(out[strings.LastIndex(out[:len(out)-1], "\n")+1:]) {
		t.Fatalf("last line of %q is not tokens_per_s=<float>", out)
	}
}
