package tokenizer_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

func TestHolds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files []string
		want  bool
	}{
		{"merged model", []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}, true},
		{"sentencepiece", []string{"./tokenizer.model"}, true},
		{"peft adapter", []string{"adapter_config.json", "adapter_model.safetensors", "README.md"}, false},
		{"gguf export", []string{"model-f16.gguf", "Modelfile"}, false},
		{"config without vocabulary", []string{"tokenizer_config.json", "vocab.json"}, false},
		{"tokenizer below the top", []string{"sub/tokenizer.json"}, false},
		{"nothing", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tokenizer.Holds(tt.files); got != tt.want {
				t.Errorf("Holds(%q) = %v, want %v", tt.files, got, tt.want)
			}
		})
	}
}

// Holds agrees with Load: a folder with the vocabulary file of a real model
// (and nothing else) loads, and one with only the files around it does not.
func TestHoldsAgreesWithLoad(t *testing.T) {
	t.Parallel()
	src := filepath.Join(assets.Dir(t), "models", "stories260K")
	for _, files := range [][]string{{"tokenizer.model"}, {"tokenizer_config.json"}, {"tokenizer.model", "tokenizer_config.json"}} {
		dir := t.TempDir()
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := tokenizer.Load(dir)
		if holds := tokenizer.Holds(files); holds != (err == nil) {
			t.Errorf("files %q: Holds = %v, Load error %v", files, holds, err)
		}
	}
}
