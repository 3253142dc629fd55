package hfconfig

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	ok := Sizes{Hidden: 4096, Intermediate: 14336, Layers: 32, Heads: 32, KVHeads: 8, HeadDim: 128, Vocab: 128256, MaxPositions: 131072}
	if err := ok.Check(); err != nil {
		t.Fatalf("Llama 3.1 8B: %v", err)
	}
	for _, tc := range []struct {
		name string
		s    Sizes
		want string
	}{
		{"layers 2^30", Sizes{Layers: 1 << 30}, "field num_hidden_layers: 1073741824 is out of range"},
		{"positions 2^40", Sizes{MaxPositions: 1 << 40}, "field max_position_embeddings: 1099511627776 is out of range"},
		{"vocab 2^40", Sizes{Vocab: 1 << 40}, "field vocab_size: 1099511627776 is out of range"},
		{"negative", Sizes{Hidden: -1}, "field hidden_size: -1"},
		{"rope table", Sizes{MaxPositions: 1 << 24, HeadDim: 128}, "the RoPE tables would take over 2 GiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCheckShapes(t *testing.T) {
	t.Parallel()
	shapes := map[string][]int{
		"model.embed_tokens.weight":               {128, 32},
		"model.layers.0.mlp.gate_proj.weight":     {64, 32},
		"model.layers.0.input_layernorm.weight":   {32},
		"model.layers.1.input_layernorm.weight":   {32},
		"model.layers.1.mlp.gate_proj.weight":     {64, 32},
		"model.layers.1.post_attention_layernorm": {32},
	}
	shape := func(n string) ([]int, bool) { s, ok := shapes[n]; return s, ok }
	good := Sizes{Hidden: 32, Intermediate: 64, Layers: 2, Vocab: 128}
	if err := good.CheckShapes(shape); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		s    Sizes
		want string
	}{
		{"layers", Sizes{Hidden: 32, Intermediate: 64, Layers: 1 << 30, Vocab: 128}, "field num_hidden_layers: the weights have no tensor model.layers.1073741823.input_layernorm.weight"},
		{"vocab", Sizes{Hidden: 32, Intermediate: 64, Layers: 2, Vocab: 1 << 20}, "field vocab_size: tensor model.embed_tokens.weight has shape [128 32]"},
		{"hidden", Sizes{Hidden: 64, Intermediate: 64, Layers: 2, Vocab: 128}, "field vocab_size: tensor model.embed_tokens.weight"},
		{"intermediate", Sizes{Hidden: 32, Intermediate: 65, Layers: 2, Vocab: 128}, "field intermediate_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.CheckShapes(shape)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckShapes: %v, want %q", err, tc.want)
			}
		})
	}
}
