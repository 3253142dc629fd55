// Package hfmodel writes a model folder in Hugging Face layout
// (config.json, model.safetensors, tokenizer files, chat template) that
// transformers and Whetstone load, e.g. a base model with a LoRA adapter
// merged in.
package hfmodel

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/whetstone/whetstone/internal/safetensors"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// Source gives a model's tensors by Hugging Face name (convert.Source).
type Source interface {
	Names() []string
	Shape(name string) ([]int, bool)
	Float32(name string) ([]float32, []int, error)
}

// Params configure Write.
type Params struct {
	// BaseDir holds config.json and the tokenizer files to copy.
	BaseDir string
	// Weights are the tensors to write.
	Weights Source
	// DType is F32, BF16 or F16. Defaults to F32.
	DType safetensors.DType
	// ChatTemplate, when not empty and the base has no chat template, is
	// stored in tokenizer_config.json (the template a fine-tune was trained
	// with).
	ChatTemplate string
	// MaxShardBytes splits the weights into model-0000N-of-0000M.safetensors
	// files with a model.safetensors.index.json, as transformers does, when
	// they exceed it. Defaults to DefaultMaxShardBytes.
	MaxShardBytes int64
}

// DefaultMaxShardBytes is transformers' default max_shard_size (5 GB).
const DefaultMaxShardBytes = 5_000_000_000

func cmpOr(a, b int64) int64 {
	if a > 0 {
		return a
	}
	return b
}

// Write writes the model folder to dir.
func Write(ctx context.Context, dir string, p *Params) error {
	dt := p.DType
	if dt == "" {
		dt = safetensors.F32
	}
	if dt != safetensors.F32 && dt != safetensors.BF16 && dt != safetensors.F16 {
		return fmt.Errorf("merged dtype %q is not supported (F32, BF16, F16 are)", dt)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var cfg map[string]any
	cpath := filepath.Join(p.BaseDir, "config.json")
	b, err := os.ReadFile(cpath)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", cpath, err)
	}
	cfg["torch_dtype"] = map[safetensors.DType]string{safetensors.F32: "float32", safetensors.BF16: "bfloat16", safetensors.F16: "float16"}[dt]
	if err := writeJSON(filepath.Join(dir, "config.json"), cfg); err != nil {
		return err
	}
	for _, name := range tokenizer.Files {
		if err := copyFile(filepath.Join(p.BaseDir, name), filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if p.ChatTemplate != "" {
		if err := setChatTemplate(dir, p.ChatTemplate); err != nil {
			return err
		}
	}
	return writeWeights(ctx, dir, p.Weights, dt, cmpOr(p.MaxShardBytes, DefaultMaxShardBytes))
}

func setChatTemplate(dir, tmpl string) error {
	path := filepath.Join(dir, "tokenizer_config.json")
	tc := map[string]any{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &tc); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	for _, f := range []string{"chat_template.jinja", "chat_template.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return nil // the base's own template
		}
	}
	if s, _ := tc["chat_template"].(string); s != "" {
		return nil
	}
	tc["chat_template"] = tmpl
	return writeJSON(path, tc)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
