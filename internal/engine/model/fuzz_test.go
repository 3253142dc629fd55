package model

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadConfig feeds the config.json loader arbitrary bytes: it never
// panics, and a config it accepts is within hfconfig.Limits (so nothing is
// allocated from an absurd size later).
func FuzzReadConfig(f *testing.F) {
	b, _ := os.ReadFile("testdata/tiny-llama/config.json")
	f.Add(b)
	f.Add([]byte(`{"model_type":"llama","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1073741824,"num_attention_heads":2,"vocab_size":8}`))
	f.Add([]byte(`{"model_type":"qwen3","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":1099511627776,"max_position_embeddings":1099511627776}`))
	f.Add([]byte(`{"model_type":"mistral","rope_scaling":{"type":"llama3","factor":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
		c, err := ReadConfig(dir)
		if err != nil {
			return
		}
		if err := c.Sizes().Check(); err != nil {
			t.Fatalf("accepted a config out of bounds: %v", err)
		}
		if c.NumKeyValueHeads <= 0 || c.NumAttentionHeads%c.NumKeyValueHeads != 0 || c.HeadDim <= 0 {
			t.Fatalf("accepted heads %d/%d head_dim %d", c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim)
		}
	})
}
