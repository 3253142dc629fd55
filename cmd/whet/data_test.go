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

// whet data --mask-preview prints the tokens that get loss, with their ids,
// and lists the rows left without any.
func TestDataMaskPreview(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	shared := filepath.Join("..", "..", "..", "shared", "assets")
	src := filepath.Join(shared, "datasets", "llama-factory", "v1_sft_demo.jsonl")
	tok := filepath.Join(shared, "tokenizers", "smollm2-135m")
	err := run(context.Background(), []string{"data", src, "--tokenizer", tok, "--mask-preview", "1", "--max-tokens", "40", "--split", "0"},
		stdio{in: strings.NewReader(""), out: &out, err: &errb})
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	s := out.String()
	for _, want := range []string{
		"loss mask (as the train agent masks rows, cut at max_tokens 40): trained tokens in [[]]",
		`text: <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n[[Hello! I am {{name}}, an AI assistant developed by {{author}}. How can I assist you today?<|im_end|>]]\n`,
		"  ids:  1 4093 198 6004 2 198 1 520 9531 198 [[19556 17 339",
		"2]] 198\n",
		"rows without trained tokens: ",
		": cut_by_max_tokens (",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}
