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
)

func TestExportCommand(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"--model", filepath.Join(assets.Dir(t), "models", "stories260K"), "--adapter", "../../internal/export/peft/testdata/stories260K-lora",
		"--format", "gguf", "--format", "merged", "--type", "q8_0,f16", "--dtype", "f32", "--out", out, "--json"}
	if err := runExport(context.Background(), args, stdio{in: strings.NewReader(""), out: &stdout, err: &stderr}); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var res struct {
		Files []struct{ Path, Format, Type string }
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	for _, f := range []string{"gguf/stories260K-q8_0.gguf", "gguf/stories260K-f16.gguf", "gguf/Modelfile", "merged/model.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	if len(res.Files) == 0 {
		t.Error("no files listed")
	}
	for _, bad := range [][]string{
		{"--out", out},
		{"--model", filepath.Join(assets.Dir(t), "models", "stories260K"), "--out", out, "--type", "q3_k"},
		{"--model", filepath.Join(assets.Dir(t), "models", "stories260K"), "--out", out, "--format", "adapter"},
	} {
		if err := runExport(context.Background(), bad, stdio{in: strings.NewReader(""), out: &stdout, err: &stderr}); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
