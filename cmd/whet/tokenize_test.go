package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"
)

func TestTokenizeCommand(t *testing.T) {
	t.Parallel()
	qwen := filepath.Join(assets.Dir(t), "tokenizers", "qwen3")
	tests := []struct {
		name string
		args []string
		in   string
		want string
	}{
		{"encode", []string{"--tokenizer", qwen}, "Hello world\n{\"text\": \"Hi <|im_end|> there\"}\n\n", "[9707,1879]\n[13048,220,151645,1052]\n[]\n"},
		{"not-a-text-object", []string{"--tokenizer", qwen}, "{\"a\": 1}\n", "[4913,64,788,220,16,92]\n"},
		{"decode", []string{"--tokenizer", qwen, "--decode"}, "[9707,1879]\n[13048,220,151645]\n", "Hello world\nHi <|im_end|>\n"},
		{"decode-skip-json", []string{"--tokenizer", qwen, "--decode", "--skip-special-tokens", "--json"}, "[13048,198,151645]\n", "\"Hi\\n\"\n"},
		{"bos", []string{"--tokenizer", filepath.Join(assets.Dir(t), "models", "stories260K"), "--add-special-tokens"}, "hello\n", "[1,281,306,414]\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			if err := runTokenize(context.Background(), tc.args, stdio{in: strings.NewReader(tc.in), out: &out, err: &errb}); err != nil {
				t.Fatal(err, errb.String())
			}
			if out.String() != tc.want {
				t.Errorf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
	var out, errb bytes.Buffer
	if err := runTokenize(context.Background(), []string{"--tokenizer", qwen, "--decode"}, stdio{in: strings.NewReader("nope\n"), out: &out, err: &errb}); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad id line: err = %v, want one naming line 1", err)
	}
}

func TestChatTemplateCommand(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(assets.Dir(t), "tokenizers", "qwen2.5-instruct-config")
	var out, errb bytes.Buffer
	in := `{"messages": [{"role": "user", "content": "hi"}]}`
	if err := runChatTemplate(context.Background(), []string{"--tokenizer", dir, "--generation-prompt"}, stdio{in: strings.NewReader(in), out: &out, err: &errb}); err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// TestTokenizeCommandGolden runs the tokenizer goldens' texts (JSON lines) through the command.
func TestTokenizeCommandGolden(t *testing.T) {
	t.Parallel()
	texts, err := os.ReadFile(filepath.Join("..", "..", "internal", "tokenizer", "testdata", "texts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(filepath.Join("..", "..", "internal", "tokenizer", "testdata", "smollm2-135m.golden.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(golden)), "\n") {
		// {"plain":[...],"special":[...]} -> [...]
		plain := line[len(`{"plain":`):strings.Index(line, `,"special"`)]
		want.WriteString(plain + "\n")
	}
	var out, errb bytes.Buffer
	dir := filepath.Join(assets.Dir(t), "tokenizers", "smollm2-135m")
	if err := runTokenize(context.Background(), []string{"--tokenizer", dir}, stdio{in: bytes.NewReader(texts), out: &out, err: &errb}); err != nil {
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Errorf("ids differ from the golden:\ngot  %.300s\nwant %.300s", out.String(), want.String())
	}
}
