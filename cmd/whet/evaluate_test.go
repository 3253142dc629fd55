package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/engine/cuda"
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
		"--samples", "3", "--max-new-tokens", "8", "--metrics", "loss,perplexity,token_f1", "--compare", "--bootstrap", "50", "--device", "cpu"},
		stdio{out: &stdout, err: &stderr})
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	for _, f := range []string{"evaluation.json", "comparison.json", "comparison.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	for _, want := range []string{"evaluated ", "(cpu)", "perplexity", "compared with the base model", "token_f1"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "device: CPU") || !strings.Contains(stderr.String(), "--device cpu") {
		t.Errorf("stderr does not say which device ran and why:\n%s", stderr.String())
	}
	c, err := readComparison(filepath.Join(out, "comparison.json"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Base.Device != "cpu" || c.Tuned.Device != "cpu" {
		t.Errorf("comparison devices: base %q, tuned %q; want cpu", c.Base.Device, c.Tuned.Device)
	}
	err = run(t.Context(), []string{"evaluate", "--model", adapter, "--data", dir, "--out", out, "--metrics", "loss,nope"}, stdio{out: &stdout, err: &stderr})
	if err == nil || !strings.Contains(err.Error(), `unknown metric "nope"`) {
		t.Errorf("bad metric: %v", err)
	}
}

// TestDeviceFlags: --device on generate and evaluate: a bad name is a usage
// error naming the choices; cpu runs and says so; an explicit cuda on a
// machine without a usable GPU is an error naming the device and why.
func TestDeviceFlags(t *testing.T) {
	t.Parallel()
	root, _ := filepath.Abs("../..")
	base := filepath.Join(root, "..", "shared", "assets", "models", "stories260K")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "validation.jsonl"), []byte(`{"prompt":"Once upon a time,","text":"Once upon a time, Tom ran."}`+"\n"), 0o644)
	_, noGPU := cuda.Open(0)
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string // "" = success
		stderr  string
		skip    bool
	}{
		{"generate bad", []string{"generate", "--model", base, "--device", "tpu"}, `--device: bad device "tpu": want auto, cpu, cuda or cuda:N`, "", false},
		{"evaluate bad", []string{"evaluate", "--model", base, "--data", dir, "--out", t.TempDir(), "--device", "cuda:x"}, `--device: bad device "cuda:x"`, "", false},
		{"generate cpu", []string{"generate", "--model", base, "--prompt", "Once", "--max-new-tokens", "4", "--device", "cpu"}, "", "device: CPU", false},
		{"generate cuda without GPU", []string{"generate", "--model", base, "--prompt", "Once", "--max-new-tokens", "4", "--device", "cuda"}, "device cuda:0: cuda unavailable", "", noGPU == nil},
		{"evaluate cuda without GPU", []string{"evaluate", "--model", base, "--data", dir, "--out", t.TempDir(), "--samples", "1", "--max-new-tokens", "4", "--device", "cuda:0"}, "device cuda:0: cuda unavailable", "", noGPU == nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.skip {
				t.Skip("this machine has a usable GPU")
			}
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), tc.args, stdio{in: strings.NewReader(""), out: &stdout, err: &stderr})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("%v\n%s", err, stderr.String())
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr.String())
			}
		})
	}
}
