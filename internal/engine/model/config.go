// Package model implements the Llama family of decoders (Llama 2/3, Mistral,
// Qwen2/2.5, Qwen3, SmolLM/SmolLM2, TinyLlama) on package nn: loading Hugging
// Face folders, inference with a KV cache, training forward/backward passes
// and LoRA adapters in PEFT's layout.
//
// One implementation covers the family; config.json picks the variant:
// q/k/v (and o/MLP) biases are used when the checkpoint has them (Qwen2),
// Qwen3's per-head q/k RMSNorm when model_type is qwen3, tied or untied
// output head, and RoPE with theta and linear or llama3 scaling.
package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/whetstone/whetstone/internal/engine/nn"
	"github.com/whetstone/whetstone/internal/hfconfig"
)

// Supported lists the config.json model_type values this package runs.
var Supported = []string{"llama", "mistral", "qwen2", "qwen3"}

// ErrUnsupported is returned for a model this package cannot run.
var ErrUnsupported = errors.New("unsupported model")

// Config is the subset of a Hugging Face config.json the decoder needs.
type Config struct {
	Architectures         []string        `json:"architectures"`
	ModelType             string          `json:"model_type"`
	HiddenSize            int             `json:"hidden_size"`
	IntermediateSize      int             `json:"intermediate_size"`
	NumHiddenLayers       int             `json:"num_hidden_layers"`
	NumAttentionHeads     int             `json:"num_attention_heads"`
	NumKeyValueHeads      int             `json:"num_key_value_heads"` // Defaults to NumAttentionHeads.
	HeadDim               int             `json:"head_dim"`            // Defaults to HiddenSize / NumAttentionHeads.
	VocabSize             int             `json:"vocab_size"`
	MaxPositionEmbeddings int             `json:"max_position_embeddings"` // Defaults to 2048.
	RMSNormEps            float64         `json:"rms_norm_eps"`            // Defaults to 1e-6.
	RopeTheta             float64         `json:"rope_theta"`              // Defaults to 10000.
	RopeScaling           *nn.RopeScaling `json:"rope_scaling"`
	TieWordEmbeddings     bool            `json:"tie_word_embeddings"`
	// AttentionBias and MLPBias are Llama's flags for biases on the
	// attention (q, k, v, o) and MLP projections. Loading uses whatever
	// biases the checkpoint holds; these only tell a Shape read from
	// config.json alone (see Biases).
	AttentionBias    bool            `json:"attention_bias"`
	MLPBias          bool            `json:"mlp_bias"`
	HiddenAct        string          `json:"hidden_act"` // Must be silu.
	SlidingWindow    *int            `json:"sliding_window"`
	UseSlidingWindow bool            `json:"use_sliding_window"`
	BOSTokenID       json.RawMessage `json:"bos_token_id"`
	EOSTokenID       json.RawMessage `json:"eos_token_id"`
	TorchDtype       string          `json:"torch_dtype"`

	// Window is the attention window when sliding-window attention is on
	// (Mistral v0.1; Qwen2 with use_sliding_window), else 0. This package
	// does not implement the window: sequences longer than it are refused.
	Window int `json:"-"`
}

// ReadConfig reads and validates dir/config.json.
func ReadConfig(dir string) (*Config, error) {
	return ReadConfigFile(filepath.Join(dir, "config.json"))
}

// ReadConfigFile reads and validates a config.json at path. Errors name the
// file and, for a bad value, the field.
func ReadConfigFile(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

func (c *Config) validate() error {
	ok := false
	for _, s := range Supported {
		if c.ModelType == s {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%w: model_type %q (architectures %v); supported model types: %s (Llama 2/3, Mistral, Qwen2/2.5, Qwen3, SmolLM/SmolLM2, TinyLlama)",
			ErrUnsupported, c.ModelType, c.Architectures, strings.Join(Supported, ", "))
	}
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = c.NumAttentionHeads
	}
	if c.HeadDim == 0 && c.NumAttentionHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumAttentionHeads
	}
	if c.MaxPositionEmbeddings == 0 {
		c.MaxPositionEmbeddings = 2048
	}
	if c.RMSNormEps == 0 {
		c.RMSNormEps = 1e-6
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"hidden_size", c.HiddenSize}, {"intermediate_size", c.IntermediateSize}, {"num_hidden_layers", c.NumHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads}, {"vocab_size", c.VocabSize}, {"head_dim", c.HeadDim}} {
		if f.v <= 0 {
			return fmt.Errorf("field %s: must be positive, got %d", f.name, f.v)
		}
	}
	if err := c.Sizes().Check(); err != nil {
		return err
	}
	if c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return fmt.Errorf("field num_key_value_heads: %d does not divide num_attention_heads %d", c.NumKeyValueHeads, c.NumAttentionHeads)
	}
	if c.SlidingWindow != nil && *c.SlidingWindow > 0 && (c.ModelType == "mistral" || c.UseSlidingWindow) {
		c.Window = *c.SlidingWindow
	}
	if c.HeadDim%2 != 0 {
		return fmt.Errorf("field head_dim: must be even for RoPE, got %d", c.HeadDim)
	}
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		return fmt.Errorf("%w: field hidden_act %q (only silu)", ErrUnsupported, c.HiddenAct)
	}
	switch k := c.RopeScaling.Kind(); k {
	case "", "default":
	case "linear":
		if c.RopeScaling.Factor <= 0 {
			return fmt.Errorf("field rope_scaling.factor: must be positive")
		}
	case "llama3":
		s := c.RopeScaling
		if s.Factor <= 0 || s.LowFreqFactor <= 0 || s.HighFreqFactor <= s.LowFreqFactor || s.OriginalMaxPositionEmbeddings <= 0 {
			return fmt.Errorf("field rope_scaling: llama3 needs factor, low_freq_factor < high_freq_factor, original_max_position_embeddings")
		}
	default:
		return fmt.Errorf("%w: rope_scaling type %q (supported: linear, llama3)", ErrUnsupported, k)
	}
	return nil
}

// Sizes returns the dimensions the config declares, for package hfconfig's
// bounds and shape checks.
func (c *Config) Sizes() hfconfig.Sizes {
	return hfconfig.Sizes{Hidden: c.HiddenSize, Intermediate: c.IntermediateSize, Layers: c.NumHiddenLayers,
		Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads, HeadDim: c.HeadDim, Vocab: c.VocabSize,
		MaxPositions: c.MaxPositionEmbeddings}
}

// IDs parses a token-id field that may be null, a number or a list.
func IDs(raw json.RawMessage) []int {
	var one int
	if json.Unmarshal(raw, &one) == nil && len(raw) > 0 && string(raw) != "null" {
		return []int{one}
	}
	var many []int
	_ = json.Unmarshal(raw, &many)
	return many
}
