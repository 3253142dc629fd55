package convert

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConfig feeds the export's config.json loader arbitrary bytes: it
// never panics, and a config it accepts is within hfconfig.Limits.
func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte(`{"model_type":"llama","hidden_size":64,"intermediate_size":172,"num_hidden_layers":5,"num_attention_heads":8,"num_key_value_heads":4,"vocab_size":512}`))
	f.Add([]byte(`{"model_type":"llama","hidden_size":64,"intermediate_size":172,"num_hidden_layers":5,"num_attention_heads":8,"vocab_size":1099511627776}`))
	f.Add([]byte(`{"model_type":"qwen2","num_attention_heads":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
		c, err := LoadConfig(dir)
		if err != nil {
			return
		}
		if err := c.Sizes().Check(); err != nil {
			t.Fatalf("accepted a config out of bounds: %v", err)
		}
		if c.NumKVHeads <= 0 || c.NumHeads%c.NumKVHeads != 0 {
			t.Fatalf("accepted heads %d/%d", c.NumHeads, c.NumKVHeads)
		}
	})
}
