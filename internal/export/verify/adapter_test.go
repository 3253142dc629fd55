package verify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/export/convert"
	"github.com/whetstone/whetstone/internal/export/exporttest"
	"github.com/whetstone/whetstone/internal/export/gguf"
	"github.com/whetstone/whetstone/internal/export/peft"
	"github.com/whetstone/whetstone/internal/safetensors"
)

// writeAdapter writes ad as a GGUF LoRA adapter of type ft and returns its path.
func writeAdapter(t *testing.T, base string, ad *peft.Adapter, ft convert.FileType) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "lora-"+string(ft)+".gguf")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := convert.Adapter(context.Background(), f, &convert.AdapterParams{BaseDir: base, Adapter: ad, Type: ft}); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAdapterReadBack: GGUF LoRA adapters written from the stories260K
// test adapter (llama q/k rows permuted) and from a random rsLoRA adapter
// (scale folded into lora_b) read back equal to their adapter: exactly in
// f32, within f16 rounding in f16.
func TestAdapterReadBack(t *testing.T) {
	t.Parallel()
	root := assets.RepoRoot(t)
	stories := filepath.Join(root, "..", "shared", "assets", "models", "stories260K")
	storiesLoRA, err := peft.Read(filepath.Join(root, "internal", "export", "peft", "testdata", "stories260K-lora"))
	if err != nil {
		t.Fatal(err)
	}
	k256 := t.TempDir()
	exporttest.Model(t, k256, exporttest.LlamaK256, safetensors.F32)
	rsDir := t.TempDir()
	exporttest.Adapter(t, rsDir, k256, exporttest.LlamaK256, exporttest.LoRA{Rank: 8, RSLoRA: true})
	rs, err := peft.Read(rsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, base string
		ad         *peft.Adapter
	}{{"stories260K", stories, storiesLoRA}, {"llama-k256 rslora", k256, rs}} {
		for _, ft := range []convert.FileType{convert.F32, convert.F16} {
			t.Run(c.name+"/"+string(ft), func(t *testing.T) {
				t.Parallel()
				p := writeAdapter(t, c.base, c.ad, ft)
				got, err := Adapter(&AdapterParams{Path: p, File: "gguf/x.gguf", BaseDir: c.base, Adapter: c.ad, Type: ft})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%d tensors, %d values, max abs error %.3g", got.Tensors, got.Values, got.MaxAbsError)
				if !got.Passed || got.Tensors != 2*len(c.ad.Layers) || got.Values == 0 {
					t.Fatalf("check = %+v; want passed with %d tensors", got, 2*len(c.ad.Layers))
				}
				if ft == convert.F32 && got.MaxAbsError != 0 {
					t.Errorf("f32 max abs error %g, want 0", got.MaxAbsError)
				}
				if ft == convert.F16 && (got.MaxAbsError == 0 || got.MaxAbsError > 1e-3) {
					t.Errorf("f16 max abs error %g, want f16 rounding (0 < e ≤ 1e-3)", got.MaxAbsError)
				}
			})
		}
	}
}

// TestAdapterReadBackCatches: a corrupted tensor, a file written from
// another adapter (other alpha), a missing module, a file of another type
// and a truncated file each fail with what differs.
func TestAdapterReadBackCatches(t *testing.T) {
	t.Parallel()
	root := assets.RepoRoot(t)
	base := filepath.Join(root, "..", "shared", "assets", "models", "stories260K")
	ad, err := peft.Read(filepath.Join(root, "internal", "export", "peft", "testdata", "stories260K-lora"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, p string, ft convert.FileType) *AdapterCheck {
		t.Helper()
		c, err := Adapter(&AdapterParams{Path: p, File: "gguf/stories260K-lora-f16.gguf", BaseDir: base, Adapter: ad, Type: ft})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	wantFail := func(t *testing.T, c *AdapterCheck, want ...string) {
		t.Helper()
		if c.Passed {
			t.Fatalf("check passed: %+v", c)
		}
		msg := c.Error()
		t.Log(msg)
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("error %q does not say %q", msg, w)
			}
		}
	}

	t.Run("one tensor's bytes changed", func(t *testing.T) {
		t.Parallel()
		p := writeAdapter(t, base, ad, convert.F16)
		f, err := gguf.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		ti, _ := f.Tensor("blk.1.attn_k.weight.lora_b")
		off := f.DataOffset + int64(ti.Offset) + 6
		f.Close()
		b, _ := os.ReadFile(p)
		b[off+1] ^= 0x40 // an f16 exponent bit
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		wantFail(t, check(t, p, convert.F16), "gguf/stories260K-lora-f16.gguf (f16)", "tensor blk.1.attn_k.weight.lora_b: 1 of ", "differ from the adapter beyond f16 rounding")
	})
	t.Run("written from another adapter", func(t *testing.T) {
		t.Parallel()
		other := *ad
		other.Config.LoraAlpha *= 2
		wantFail(t, check(t, writeAdapter(t, base, &other, convert.F16), convert.F16), "adapter.lora.alpha is 128, want 64")
	})
	t.Run("a module left out", func(t *testing.T) {
		t.Parallel()
		less := *ad
		less.Layers = ad.Layers[1:]
		g, _, _, _ := convert.GGUFName(ad.Layers[0].Module + ".weight")
		wantFail(t, check(t, writeAdapter(t, base, &less, convert.F16), convert.F16), "tensor "+g+".lora_a is missing", "tensor "+g+".lora_b is missing")
	})
	t.Run("another type", func(t *testing.T) {
		t.Parallel()
		wantFail(t, check(t, writeAdapter(t, base, ad, convert.F32), convert.F16), "has type F32, want F16")
	})
	t.Run("truncated", func(t *testing.T) {
		t.Parallel()
		p := writeAdapter(t, base, ad, convert.F16)
		b, _ := os.ReadFile(p)
		if err := os.WriteFile(p, b[:len(b)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		wantFail(t, check(t, p, convert.F16), "not readable as GGUF")
	})
}
