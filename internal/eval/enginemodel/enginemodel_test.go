package enginemodel

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/engine/cuda"
	"github.com/whetstone/whetstone/internal/engine/gpu"

	"github.com/whetstone/whetstone/internal/eval"
)

func repoRoot(t testing.TB) string { return assets.RepoRoot(t) }

// StoriesDir returns the stories260K model folder of the shared assets.
func StoriesDir(t testing.TB) string {
	t.Helper()
	d := filepath.Join(repoRoot(t), "..", "shared", "assets", "models", "stories260K")
	if _, err := os.Stat(filepath.Join(d, "model.safetensors")); err != nil {
		t.Fatalf("stories260K model: %v", err)
	}
	return d
}

type golden struct {
	Text      string
	IDs       []int
	MeanLoss  float64 `json:"mean_loss"`
	Prompt    string
	PromptIDs []int `json:"prompt_ids"`
	Generated []int
}

// TestStoriesAgainstTorch checks loss, tokenization and greedy generation
// on the real stories260K model against testdata/stories260K.golden.json,
// made by the PyTorch reference (gen.sh).
func TestStoriesAgainstTorch(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/stories260K.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	m, tok, err := Load(t.Context(), StoriesDir(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if ids := tok.Encode(g.Text, true); !slices.Equal(ids, g.IDs) {
		t.Fatalf("Encode = %v, sentencepiece %v", ids, g.IDs)
	}
	sum, n, err := m.Loss(t.Context(), g.IDs, g.IDs)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(g.IDs)-1 {
		t.Errorf("loss counted %d positions, want %d", n, len(g.IDs)-1)
	}
	if got := sum / float64(n); math.Abs(got-g.MeanLoss) > 1e-4 {
		t.Errorf("mean loss %.7f, PyTorch float64 %.7f", got, g.MeanLoss)
	}
	// Masking the prompt: only positions after it count.
	labels := slices.Clone(g.IDs)
	for i := range 10 {
		labels[i] = eval.IgnoreIndex
	}
	s2, n2, err := m.Loss(t.Context(), g.IDs, labels)
	if err != nil {
		t.Fatal(err)
	}
	if n2 != len(g.IDs)-10 || s2 >= sum {
		t.Errorf("masked loss %v over %d, full %v over %d", s2, n2, sum, n)
	}
	// A sequence longer than the context (512) is scored on its first 512 tokens.
	long := slices.Repeat(g.IDs, 20)[:600]
	sl, nl, err := m.Loss(t.Context(), long, long)
	if err != nil || nl != 511 {
		t.Errorf("long sequence: %d positions, %v", nl, err)
	}
	s512, _, _ := m.Loss(t.Context(), long[:512], long[:512])
	if sl != s512 {
		t.Errorf("long sequence loss %v, first 512 tokens %v", sl, s512)
	}
	eos, _ := tok.EOS()
	out, err := m.Generate(t.Context(), tok.Encode(g.Prompt, true), eval.GenerateOptions{MaxNewTokens: len(g.Generated), Stop: []int{eos}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out, g.Generated) {
		t.Errorf("greedy ids %v, PyTorch %v", out, g.Generated)
	}
	// Sampling is seeded: the same seed gives the same text.
	opt := eval.GenerateOptions{MaxNewTokens: 20, Temperature: 1, Seed: 9}
	a, _ := m.Generate(t.Context(), g.PromptIDs, opt)
	c, _ := m.Generate(t.Context(), g.PromptIDs, opt)
	if !slices.Equal(a, c) || len(a) != 20 {
		t.Errorf("seeded sampling gave %v and %v", a, c)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	if _, _, err := Load(t.Context(), t.TempDir(), ""); err == nil {
		t.Error("loading an empty folder succeeded")
	}
	if _, _, err := Load(t.Context(), StoriesDir(t), t.TempDir()); err == nil {
		t.Error("loading an empty adapter folder succeeded")
	}
}

// deviceOrSkip opens cuda:0, skipping without a GPU unless
// WHET_REQUIRE_GPU=1 (scripts/gpu-check.sh sets it).
func deviceOrSkip(t *testing.T) *cuda.Device {
	t.Helper()
	d, err := cuda.Open(0)
	if err != nil {
		if os.Getenv("WHET_REQUIRE_GPU") == "1" {
			t.Fatalf("WHET_REQUIRE_GPU=1 but: %v", err)
		}
		if !errors.Is(err, cuda.ErrUnavailable) {
			t.Fatalf("error does not wrap cuda.ErrUnavailable: %v", err)
		}
		t.Skipf("no GPU: %v", err)
	}
	return d
}

// storiesForDevice is StoriesDir, or $WHET_TEST_MODEL_DIR/stories260K on
// a GPU machine where ../shared is not beside the checkout.
func storiesForDevice(t *testing.T) string {
	if d := os.Getenv("WHET_TEST_MODEL_DIR"); d != "" {
		return filepath.Join(d, "stories260K")
	}
	return StoriesDir(t)
}

// TestLoadOnDevice runs evaluation's model on the GPU (what evaluate and
// compare do with device cuda): the loss within 1e-5 relative of the CPU's
// (with and without the LoRA adapter), and greedy generation giving
// PyTorch's tokens (testdata golden), as the CPU does.
func TestLoadOnDevice(t *testing.T) {
	dev := deviceOrSkip(t)
	b, err := os.ReadFile("testdata/stories260K.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	dir := storiesForDevice(t)
	for _, adapter := range []string{"", "../../engine/model/testdata/stories260K.adapter"} {
		cm, _, err := Load(t.Context(), dir, adapter)
		if err != nil {
			t.Fatal(err)
		}
		gm, tok, err := LoadOn(dev)(t.Context(), dir, adapter)
		if err != nil {
			t.Fatal(err)
		}
		if gm.(*Model).g == nil {
			t.Fatal("LoadOn(dev) gave a CPU model")
		}
		long := slices.Repeat(g.IDs, 20)[:600] // past the context: cut to 512
		for _, ids := range [][]int{g.IDs, long} {
			cs, cn, err := cm.Loss(t.Context(), ids, ids)
			if err != nil {
				t.Fatal(err)
			}
			gs, gn, err := gm.Loss(t.Context(), ids, ids)
			if err != nil {
				t.Fatal(err)
			}
			if gn != cn || math.Abs(gs-cs) > 1e-5*math.Abs(cs) {
				t.Errorf("adapter %q, %d ids: GPU loss %.8g over %d, CPU %.8g over %d", adapter, len(ids), gs, gn, cs, cn)
			}
		}
		eos, _ := tok.EOS()
		prompt := tok.Encode(g.Prompt, true)
		opt := eval.GenerateOptions{MaxNewTokens: len(g.Generated), Stop: []int{eos}}
		want, err := cm.Generate(t.Context(), prompt, opt)
		if err != nil {
			t.Fatal(err)
		}
		got, err := gm.Generate(t.Context(), prompt, opt)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("adapter %q: greedy ids on the GPU %v, CPU %v", adapter, got, want)
		}
		if adapter == "" && !slices.Equal(got, g.Generated) {
			t.Errorf("greedy ids on the GPU %v, PyTorch %v", got, g.Generated)
		}
		if err := gm.(io.Closer).Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadOnCPU(t *testing.T) {
	t.Parallel()
	m, _, err := LoadOn(nil)(t.Context(), StoriesDir(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if m.(*Model).g != nil {
		t.Fatal("LoadOn(nil) put the model on a device")
	}
	if err := m.(io.Closer).Close(); err != nil {
		t.Fatalf("Close on the CPU: %v", err)
	}
}

// TestDeviceBytes: the device memory asked for a GPU lease covers the
// float32 weights, the CUDA context and a KV cache for the whole context
// (512 tokens for stories260K), and no more than that plus a forward pass's
// buffers for 512 tokens would take.
func TestDeviceBytes(t *testing.T) {
	t.Parallel()
	m, _, err := Load(t.Context(), StoriesDir(t), "")
	if err != nil {
		t.Fatal(err)
	}
	mm := m.(*Model)
	weights := 4 * int64(mm.m.NumParams())
	got := mm.DeviceBytes()
	kv := gpu.KVCacheBytes(&mm.m.Cfg, 512)
	if got < weights+gpu.ContextBytes+kv || got > weights+gpu.ContextBytes+64<<20 {
		t.Errorf("DeviceBytes %d; want the weights (%d), the context (%d) and the KV cache (%d) plus under 64 MiB", got, weights, int64(gpu.ContextBytes), kv)
	}
}
