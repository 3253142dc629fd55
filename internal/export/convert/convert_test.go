package convert

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"

	"github.com/whetstone/whetstone/internal/export/gguf"
	"github.com/whetstone/whetstone/internal/export/quant"
	"github.com/whetstone/whetstone/internal/safetensors"
)

func repoRoot(t testing.TB) string { return assets.RepoRoot(t) }

func asset(t testing.TB, rel string) string {
	return filepath.Join(repoRoot(t), "..", "shared", "assets", rel)
}

// convertTo converts the model in dir and returns the GGUF bytes.
func convertTo(t testing.TB, dir string, ft FileType) ([]byte, *Result) {
	t.Helper()
	st, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var buf bytes.Buffer
	res, err := Model(context.Background(), &buf, &Params{Dir: dir, Weights: Safetensors(st), Type: ft})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), res
}

func TestStories260KMetadata(t *testing.T) {
	t.Parallel()
	dir := asset(t, "models/stories260K")
	b, _ := convertTo(t, dir, F32)
	f, err := gguf.Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"general.architecture":                   "llama",
		"general.file_type":                      uint32(0),
		"llama.block_count":                      uint32(5),
		"llama.embedding_length":                 uint32(64),
		"llama.feed_forward_length":              uint32(172),
		"llama.attention.head_count":             uint32(8),
		"llama.attention.head_count_kv":          uint32(4),
		"llama.rope.dimension_count":             uint32(8),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"tokenizer.ggml.model":                   "llama",
		"tokenizer.ggml.bos_token_id":            uint32(1),
		"tokenizer.ggml.eos_token_id":            uint32(2),
		"tokenizer.ggml.unknown_token_id":        uint32(0),
		"tokenizer.ggml.add_bos_token":           true,
		"tokenizer.ggml.add_space_prefix":        true,
	}
	for k, v := range want {
		if got, _ := f.Get(k); got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	toks, _ := f.Get("tokenizer.ggml.tokens")
	types, _ := f.Get("tokenizer.ggml.token_type")
	if tk := toks.([]string); len(tk) != 512 || tk[1] != "<s>" || tk[3] != "<0x00>" {
		t.Errorf("tokens %d, first %q", len(tk), tk[:4])
	}
	if ty := types.([]int32); ty[0] != tokUnknown || ty[1] != tokControl || ty[3] != tokByte || ty[300] != tokNormal {
		t.Errorf("token types %v", ty[:4])
	}
	if _, ok := f.Tensor("output.weight"); ok {
		t.Error("tied model has output.weight")
	}
	if len(f.Tensors) != 2+5*9 {
		t.Errorf("%d tensors, want %d", len(f.Tensors), 2+5*9)
	}

	// q and k rows are interleaved per head: GGUF row h·d+2j+t is HF row h·d+t·d/2+j.
	st, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, c := range []struct {
		hf, g string
		heads int
	}{{"model.layers.3.self_attn.q_proj.weight", "blk.3.attn_q.weight", 8}, {"model.layers.3.self_attn.k_proj.weight", "blk.3.attn_k.weight", 4},
		{"model.layers.3.self_attn.v_proj.weight", "blk.3.attn_v.weight", 0}, {"model.layers.3.mlp.down_proj.weight", "blk.3.ffn_down.weight", 0}} {
		hf, shape, err := st.Float32(c.hf)
		if err != nil {
			t.Fatal(err)
		}
		g, info, err := f.Float32(c.g)
		if err != nil {
			t.Fatal(err)
		}
		rows, cols := shape[0], shape[1]
		if info.Shape[0] != uint64(cols) || info.Shape[1] != uint64(rows) {
			t.Fatalf("%s: ggml shape %v for torch %v", c.g, info.Shape, shape)
		}
		for r := 0; r < rows; r++ {
			src := r
			if c.heads > 0 {
				d := rows / c.heads
				h, j, tt := r/d, (r%d)/2, r%2
				src = h*d + tt*d/2 + j
			}
			for k := 0; k < cols; k++ {
				if g[r*cols+k] != hf[src*cols+k] {
					t.Fatalf("%s[%d][%d] = %v, want HF row %d: %v", c.g, r, k, g[r*cols+k], src, hf[src*cols+k])
				}
			}
		}
	}
}

func TestQuantMix(t *testing.T) {
	t.Parallel()
	dir := asset(t, "models/stories260K")
	tests := []struct {
		ft   FileType
		want map[string]quant.Type
	}{
		// stories260K rows are 64 (and ffn_down 172) wide: no K-quant fits, so
		// llama-quantize's fallbacks apply.
		{F16, map[string]quant.Type{"token_embd.weight": quant.F16, "blk.0.attn_norm.weight": quant.F32, "blk.0.ffn_down.weight": quant.F16}},
		{Q8_0, map[string]quant.Type{"token_embd.weight": quant.Q8_0, "blk.0.attn_q.weight": quant.Q8_0, "blk.0.ffn_down.weight": quant.F16}},
		{Q4_0, map[string]quant.Type{"token_embd.weight": quant.Q8_0, "blk.0.attn_q.weight": quant.Q4_0, "blk.0.ffn_down.weight": quant.F16}},
		{Q4_K_M, map[string]quant.Type{"token_embd.weight": quant.Q8_0, "blk.0.attn_q.weight": quant.Q5_0, "blk.2.attn_v.weight": quant.Q8_0, "blk.4.ffn_down.weight": quant.F16,
			"blk.0.attn_v.weight": quant.Q5_0, "blk.4.attn_v.weight": quant.Q8_0, "blk.0.ffn_down.weight": quant.F16}},
	}
	for _, tt := range tests {
		t.Run(string(tt.ft), func(t *testing.T) {
			t.Parallel()
			_, res := convertTo(t, dir, tt.ft)
			got := map[string]quant.Type{}
			for _, ti := range res.Tensors {
				got[ti.Name] = ti.Type
			}
			for n, w := range tt.want {
				if got[n] != w {
					t.Errorf("%s: %v, want %v", n, got[n], w)
				}
			}
		})
	}
}

func TestUseMoreBits(t *testing.T) {
	t.Parallel()
	// llama.cpp's Q4_K_M for 30 layers gives Q6_K to layers 0-2, 5, 8, ..., 26-29.
	var got []int
	for i := 0; i < 30; i++ {
		if useMoreBits(i, 30) {
			got = append(got, i)
		}
	}
	want := []int{0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}
