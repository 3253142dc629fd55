package model

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestConfigBounds loads tiny-llama with issue 10's config.json values (and
// one in bounds that the weights contradict): each is an error naming the
// field, found before anything is allocated from it.
func TestConfigBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		field string
		value any
		want  string
	}{
		{"num_hidden_layers", 1073741824, "field num_hidden_layers: 1073741824 is out of range"},
		{"max_position_embeddings", int64(1) << 40, "field max_position_embeddings: 1099511627776 is out of range"},
		{"vocab_size", int64(1) << 40, "field vocab_size: 1099511627776 is out of range"},
		{"num_hidden_layers", 3, "no tensor model.layers.2.input_layernorm.weight"},
		{"vocab_size", 4096, "tensor model.embed_tokens.weight has shape [128 32], config.json implies [4096 32]"},
		{"intermediate_size", -1, "field intermediate_size: must be positive, got -1"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			dir := t.TempDir()
			b, _ := os.ReadFile("testdata/tiny-llama/config.json")
			var cfg map[string]any
			json.Unmarshal(b, &cfg)
			cfg[tc.field] = tc.value
			b, _ = json.Marshal(cfg)
			os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
			w, _ := os.ReadFile("testdata/tiny-llama/model.safetensors")
			os.WriteFile(filepath.Join(dir, "model.safetensors"), w, 0o644)
			var a, z runtime.MemStats
			runtime.ReadMemStats(&a)
			_, err := Load(dir)
			runtime.ReadMemStats(&z)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v, want %q", err, tc.want)
			}
			if n := z.TotalAlloc - a.TotalAlloc; n > 64<<20 {
				t.Errorf("Load allocated %d bytes before failing", n)
			}
		})
	}
}
