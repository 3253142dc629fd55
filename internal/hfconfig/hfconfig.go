// Package hfconfig bounds the sizes a Hugging Face config.json declares and
// checks them against the real shapes of the weights, before anything is
// allocated from them. A config.json is input like any other: a
// num_hidden_layers of 2^30 or a vocab_size of 2^40 must be an error naming
// the field, not an out-of-memory crash.
package hfconfig

import "fmt"

// Sizes are the dimensions a config.json declares. Zero fields are not
// checked (a loader fills its defaults first).
type Sizes struct {
	Hidden       int // hidden_size
	Intermediate int // intermediate_size
	Layers       int // num_hidden_layers
	Heads        int // num_attention_heads
	KVHeads      int // num_key_value_heads
	HeadDim      int // head_dim
	Vocab        int // vocab_size
	MaxPositions int // max_position_embeddings
}

// Limits are the largest sizes accepted: several times those of the largest
// open models (hidden 16384, 126 layers, vocab 262k, context 10M).
var Limits = Sizes{
	Hidden:       1 << 16,
	Intermediate: 1 << 18,
	Layers:       1 << 10,
	Heads:        1 << 10,
	KVHeads:      1 << 10,
	HeadDim:      1 << 10,
	Vocab:        1 << 22,
	MaxPositions: 1 << 24,
}

// maxRopeTable bounds max_position_embeddings × head_dim: the engine holds
// cos and sin tables of that many float32s (16.7M for Llama 3.1's 131072 ×
// 128; 2^28 allows 2M positions at head_dim 128).
const maxRopeTable = 1 << 28

func (s Sizes) fields() []struct {
	name string
	v    int
	max  int
} {
	return []struct {
		name string
		v    int
		max  int
	}{
		{"hidden_size", s.Hidden, Limits.Hidden},
		{"intermediate_size", s.Intermediate, Limits.Intermediate},
		{"num_hidden_layers", s.Layers, Limits.Layers},
		{"num_attention_heads", s.Heads, Limits.Heads},
		{"num_key_value_heads", s.KVHeads, Limits.KVHeads},
		{"head_dim", s.HeadDim, Limits.HeadDim},
		{"vocab_size", s.Vocab, Limits.Vocab},
		{"max_position_embeddings", s.MaxPositions, Limits.MaxPositions},
	}
}

// Check returns an error naming the first field that is negative or over
// its limit in Limits.
func (s Sizes) Check() error {
	for _, f := range s.fields() {
		if f.v < 0 || f.v > f.max {
			return fmt.Errorf("field %s: %d is out of range (0 to %d)", f.name, f.v, f.max)
		}
	}
	if s.MaxPositions*s.HeadDim > maxRopeTable {
		return fmt.Errorf("field max_position_embeddings: %d positions × head_dim %d is over %d (the RoPE tables would take over 2 GiB)",
			s.MaxPositions, s.HeadDim, maxRopeTable)
	}
	return nil
}

// CheckShapes compares the sizes with the shapes of the weights (shape
// returns a tensor's shape without loading it): the embedding is
// [vocab_size, hidden_size], the MLP [intermediate_size, hidden_size], and
// layer num_hidden_layers-1 exists.
func (s Sizes) CheckShapes(shape func(name string) ([]int, bool)) error {
	want := func(field, name string, dims ...int) error {
		sh, ok := shape(name)
		if !ok {
			return fmt.Errorf("field %s: the weights have no tensor %s", field, name)
		}
		if len(sh) != len(dims) {
			return fmt.Errorf("field %s: tensor %s has shape %v, config.json implies %v", field, name, sh, dims)
		}
		for i := range dims {
			if dims[i] > 0 && sh[i] != dims[i] {
				return fmt.Errorf("field %s: tensor %s has shape %v, config.json implies %v", field, name, sh, dims)
			}
		}
		return nil
	}
	if err := want("vocab_size", "model.embed_tokens.weight", s.Vocab, s.Hidden); err != nil {
		return err
	}
	if s.Layers > 0 {
		last := fmt.Sprintf("model.layers.%d.input_layernorm.weight", s.Layers-1)
		if err := want("num_hidden_layers", last, s.Hidden); err != nil {
			return err
		}
	}
	if s.Intermediate > 0 {
		if err := want("intermediate_size", "model.layers.0.mlp.gate_proj.weight", s.Intermediate, s.Hidden); err != nil {
			return err
		}
	}
	return nil
}
