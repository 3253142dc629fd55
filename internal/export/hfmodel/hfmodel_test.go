package hfmodel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"

	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/export/peft"
	"github.com/whetstone/whetstone/internal/safetensors"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

type stSource struct{ f *safetensors.File }

func (s stSource) Names() []string { return s.f.Names() }
func (s stSource) Shape(n string) ([]int, bool) {
	i, ok := s.f.Info(n)
	return i.Shape, ok
}
func (s stSource) Float32(n string) ([]float32, []int, error) { return s.f.Float32(n) }

func repoRoot(t *testing.T) string { return assets.RepoRoot(t) }

func lastLogits(t *testing.T, m *model.Model, ids []int) []float32 {
	t.Helper()
	in := make([]int32, len(ids))
	for i, id := range ids {
		in[i] = int32(id)
	}
	lg, err := m.Forward(m.NewCache(len(ids)), in, false)
	if err != nil {
		t.Fatal(err)
	}
	return lg
}

// TestMergedMatchesAdapter writes base + adapter merged in Hugging Face
// layout, loads it back into Whetstone's engine, and compares its logits
// with the engine running base + unmerged adapter and with PyTorch's base +
// adapter (peft/testdata/gen.sh).
func TestMergedMatchesAdapter(t *testing.T) {
	t.Parallel()
	base := filepath.Join(repoRoot(t), "..", "shared", "assets", "models", "stories260K")
	adapterDir := "../peft/testdata/stories260K-lora"
	var g struct {
		IDs    []int     `json:"ids"`
		Logits []float64 `json:"logits_last"`
	}
	b, err := os.ReadFile("../peft/testdata/stories260K-lora.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	ad, err := peft.Read(adapterDir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.OpenDir(base)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := peft.Merged(stSource{st}, ad)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dt    safetensors.DType
		shard int64
	}{{safetensors.F32, 0}, {safetensors.BF16, 0}, {safetensors.F32, 300_000}} {
		dt := tc.dt
		t.Run(fmt.Sprintf("%s-shard%d", dt, tc.shard), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "merged")
			if err := Write(context.Background(), dir, &Params{BaseDir: base, Weights: m, DType: dt, ChatTemplate: "{{ messages }}", MaxShardBytes: tc.shard}); err != nil {
				t.Fatal(err)
			}
			weights := "model.safetensors"
			if tc.shard > 0 {
				weights = "model.safetensors.index.json"
				if _, err := os.Stat(filepath.Join(dir, "model-00004-of-00004.safetensors")); err != nil {
					t.Error("expected 4 shards of at most 300 kB for the 1 MB model")
				}
			}
			for _, f := range []string{"config.json", weights, "tokenizer.model", "tokenizer_config.json"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("merged folder lacks %s", f)
				}
			}
			merged, err := model.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			got := lastLogits(t, merged, g.IDs)
			eng, err := model.Load(base)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := eng.LoadAdapter(adapterDir); err != nil {
				t.Fatal(err)
			}
			want := lastLogits(t, eng, g.IDs)
			var dEngine, dTorch float64
			for i := range got {
				dEngine = max(dEngine, math.Abs(float64(got[i]-want[i])))
				dTorch = max(dTorch, math.Abs(float64(got[i])-g.Logits[i]))
			}
			// f32 merging agrees to rounding; bf16 storage costs ~3 significant digits.
			tol := 1e-4
			if dt == safetensors.BF16 {
				tol = 0.1
			}
			t.Logf("%s merged: max |Δlogit| vs engine base+adapter %.2e, vs PyTorch base+adapter %.2e", dt, dEngine, dTorch)
			if dEngine > tol || dTorch > tol {
				t.Errorf("max |Δlogit| %.3g (engine), %.3g (PyTorch) > %g", dEngine, dTorch, tol)
			}
			var tc map[string]any
			b, _ := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
			json.Unmarshal(b, &tc)
			if tc["chat_template"] != "{{ messages }}" {
				t.Errorf("training chat template not stored: %v", tc["chat_template"])
			}
		})
	}
}

// TestStreamedFileMatchesWriter checks the streaming writer against
// safetensors.Write byte for byte.
func TestStreamedFileMatchesWriter(t *testing.T) {
	t.Parallel()
	base := filepath.Join(repoRoot(t), "..", "shared", "assets", "models", "stories260K")
	st, err := safetensors.OpenDir(base)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	if err := writeWeights(context.Background(), dir, stSource{st}, safetensors.BF16, DefaultMaxShardBytes); err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	for _, n := range st.Names() {
		x, shape, _ := st.Float32(n)
		b, _ := safetensors.ConvertF32(x, safetensors.BF16)
		ts = append(ts, safetensors.Tensor{Name: n, DType: safetensors.BF16, Shape: shape, Data: b})
	}
	var want bytes.Buffer
	if err := safetensors.Write(&want, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("streamed file (%d bytes) differs from safetensors.Write (%d bytes)", len(got), want.Len())
	}
}

// TestWriteKeepsBaseChatTemplateFile: a base that keeps its chat template
// in chat_template.json (not tokenizer_config.json) passes it on, and the
// training template does not override it.
func TestWriteKeepsBaseChatTemplateFile(t *testing.T) {
	t.Parallel()
	src := filepath.Join(repoRoot(t), "..", "shared", "assets", "models", "stories260K")
	base := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(base, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const own = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
	b, _ := json.Marshal(map[string]string{"chat_template": own})
	if err := os.WriteFile(filepath.Join(base, "chat_template.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.OpenDir(base)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	if err := Write(context.Background(), dir, &Params{BaseDir: base, Weights: stSource{st}, ChatTemplate: "{{ messages }}"}); err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tok.ApplyChatTemplate([]map[string]any{{"role": "user", "content": "hi"}}, tokenizer.ChatOptions{})
	if err != nil || got != "<user>hi" {
		t.Errorf("merged model's chat template renders %q (%v), want the base's %q", got, err, "<user>hi")
	}
}
