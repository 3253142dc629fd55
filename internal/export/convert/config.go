package convert

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/whetstone/whetstone/internal/hfconfig"
)

// Config is the part of a Hugging Face config.json the converter uses.
type Config struct {
	Architectures     []string       `json:"architectures"`
	ModelType         string         `json:"model_type"`
	HiddenSize        int            `json:"hidden_size"`
	IntermediateSize  int            `json:"intermediate_size"`
	NumLayers         int            `json:"num_hidden_layers"`
	NumHeads          int            `json:"num_attention_heads"`
	NumKVHeads        int            `json:"num_key_value_heads"`
	HeadDim           int            `json:"head_dim"`
	VocabSize         int            `json:"vocab_size"`
	MaxPositions      int            `json:"max_position_embeddings"`
	RMSNormEps        float64        `json:"rms_norm_eps"`
	RopeTheta         float64        `json:"rope_theta"`
	RopeScaling       map[string]any `json:"rope_scaling"`
	TieWordEmbeddings bool           `json:"tie_word_embeddings"`
	BOSTokenID        any            `json:"bos_token_id"`
	EOSTokenID        any            `json:"eos_token_id"`
	PadTokenID        any            `json:"pad_token_id"`
	HiddenAct         string         `json:"hidden_act"`
	NameOrPath        string         `json:"_name_or_path"`
}

// Arch returns the llama.cpp architecture name for the config: "llama" for
// llama and mistral, "qwen2", "qwen3".
func (c *Config) Arch() (string, error) {
	switch c.ModelType {
	case "llama", "mistral":
		return "llama", nil
	case "qwen2":
		return "qwen2", nil
	case "qwen3":
		return "qwen3", nil
	}
	return "", fmt.Errorf("model_type %q is not supported (llama, mistral, qwen2, qwen3 are)", c.ModelType)
}

// headDim returns head_dim, defaulting to hidden_size/num_attention_heads.
func (c *Config) headDim() int {
	if c.HeadDim > 0 {
		return c.HeadDim
	}
	return c.HiddenSize / c.NumHeads
}

// LoadConfig reads dir/config.json and checks the fields conversion needs.
func LoadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := &Config{RMSNormEps: 1e-6, RopeTheta: 10000}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.NumKVHeads == 0 {
		c.NumKVHeads = c.NumHeads
	}
	if c.MaxPositions == 0 {
		c.MaxPositions = 2048
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"hidden_size", c.HiddenSize}, {"intermediate_size", c.IntermediateSize}, {"num_hidden_layers", c.NumLayers},
		{"num_attention_heads", c.NumHeads}, {"vocab_size", c.VocabSize}} {
		if f.v <= 0 {
			return nil, fmt.Errorf("%s: field %s is missing or not positive", path, f.name)
		}
	}
	if err := c.Sizes().Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.NumHeads%c.NumKVHeads != 0 {
		return nil, fmt.Errorf("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path, c.NumHeads, c.NumKVHeads)
	}
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		return nil, fmt.Errorf("%s: hidden_act %q is not supported (silu is)", path, c.HiddenAct)
	}
	if _, err := c.Arch(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Sizes returns the dimensions the config declares, for package hfconfig's
// bounds and shape checks.
func (c *Config) Sizes() hfconfig.Sizes {
	return hfconfig.Sizes{Hidden: c.HiddenSize, Intermediate: c.IntermediateSize, Layers: c.NumLayers,
		Heads: c.NumHeads, KVHeads: c.NumKVHeads, HeadDim: c.HeadDim, Vocab: c.VocabSize, MaxPositions: c.MaxPositions}
}

// intID reads a token id field that may be a number, a list (first entry)
// or null.
func intID(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		return int(x), true
	case []any:
		if len(x) > 0 {
			return intID(x[0])
		}
	}
	return 0, false
}
