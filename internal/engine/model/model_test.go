package model

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"

	"github.com/whetstone/whetstone/internal/engine/nn"
	"github.com/whetstone/whetstone/internal/safetensors"
)

// repoRoot walks up from the package folder to go.mod.
func repoRoot(t testing.TB) string { return assets.RepoRoot(t) }

// StoriesDir is the pretrained stories260K model in the shared assets.
func storiesDir(t testing.TB) string {
	return filepath.Join(repoRoot(t), "..", "shared", "assets", "models", "stories260K")
}

// The token ids gen.sh feeds the reference.
var (
	storiesIDs = []int32{1, 403, 407, 261, 378, 365, 372, 267, 411, 271, 262, 335, 275, 301, 1, 17, 89, 300, 44, 2, 5, 9, 33, 500}
	tinyIDs    = []int32{1, 5, 77, 3, 127, 0, 64, 9, 12, 100, 33, 2, 90, 91, 92, 17, 18, 40, 41, 42}
)

type golden struct {
	name string
	dir  string
	ids  []int32
}

func goldens(t testing.TB) []golden {
	return []golden{
		{"stories260K", storiesDir(t), storiesIDs},
		{"tiny-llama", "testdata/tiny-llama", tinyIDs},
		{"tiny-qwen2", "testdata/tiny-qwen2", tinyIDs},
		{"tiny-bf16", "testdata/tiny-bf16", tinyIDs},
	}
}

func readTensor(t testing.TB, path, name string) []float32 {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, _, err := f.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func labelsFor(ids []int32) []int32 {
	l := make([]int32, len(ids))
	for i := range l {
		if i+1 < len(ids) {
			l[i] = ids[i+1]
		} else {
			l[i] = nn.IgnoreIndex
		}
	}
	return l
}

func TestLogitsMatchTorch(t *testing.T) {
	t.Parallel()
	for _, g := range goldens(t) {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			m, err := Load(g.dir)
			if err != nil {
				t.Fatal(err)
			}
			want := readTensor(t, "testdata/"+g.name+".logits.safetensors", "logits")
			V := m.Cfg.VocabSize
			got, err := m.Forward(m.NewCache(64), g.ids, true)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(got, want); d > 1e-4 {
				t.Errorf("logits: max abs diff %.3g > 1e-4", d)
			} else {
				t.Logf("logits: max abs diff %.3g", d)
			}
			// Token-by-token decoding through the cache gives the same logits.
			cache := m.NewCache(64)
			for i, id := range g.ids {
				lg, err := m.Forward(cache, []int32{id}, false)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxAbsDiff(lg, want[i*V:(i+1)*V]); d > 1e-4 {
					t.Fatalf("cached step %d: max abs diff %.3g", i, d)
				}
			}
			// The training path's loss equals the reference's.
			var ref struct{ Loss float64 }
			readJSON(t, "testdata/"+g.name+".logits.json", &ref)
			sum, n, err := m.ForwardBackward(&Batch{B: 1, T: len(g.ids), IDs: g.ids, Labels: labelsFor(g.ids)}, 0, false)
			if err != nil {
				t.Fatal(err)
			}
			if loss := sum / float64(n); math.Abs(loss-ref.Loss) > 1e-5 {
				t.Errorf("loss %.7f, torch %.7f", loss, ref.Loss)
			}
		})
	}
}

func TestLoRAGradsMatchTorch(t *testing.T) {
	t.Parallel()
	for _, g := range goldens(t) {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			m, err := Load(g.dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.LoadAdapter("testdata/" + g.name + ".adapter"); err != nil {
				t.Fatal(err)
			}
			m.EnableLoRAGrad()
			labels := labelsFor(g.ids)
			b := &Batch{B: 1, T: len(g.ids), IDs: g.ids, Labels: labels}
			sum, n, err := m.ForwardBackward(b, 1/float32(len(g.ids)-1), true)
			if err != nil {
				t.Fatal(err)
			}
			var ref struct{ Loss float64 }
			readJSON(t, "testdata/"+g.name+".lora.json", &ref)
			if loss := sum / float64(n); math.Abs(loss-ref.Loss) > 1e-5 {
				t.Errorf("loss %.7f, torch %.7f", loss, ref.Loss)
			}
			worst := 0.0
			for _, p := range m.LoRAParams() {
				want := readTensor(t, "testdata/"+g.name+".grads.safetensors", p.Name)
				var num, den float64
				for i := range want {
					d := float64(p.Grad[i] - want[i])
					num += d * d
					den += float64(want[i]) * float64(want[i])
				}
				rel := math.Sqrt(num / den)
				worst = max(worst, rel)
				if rel > 1e-3 {
					t.Errorf("%s: relative error %.3g > 1e-3", p.Name, rel)
				}
			}
			t.Logf("worst LoRA grad relative error %.3g over %d tensors", worst, len(m.LoRAParams()))
		})
	}
}

func TestGreedyStories(t *testing.T) {
	t.Parallel()
	m, err := Load(storiesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ Generated []int32 }
	readJSON(t, "testdata/stories260K.generate.json", &ref)
	cache := m.NewCache(128)
	next := []int32{1}
	for i, want := range ref.Generated {
		lg, err := m.Forward(cache, next, false)
		if err != nil {
			t.Fatal(err)
		}
		got := int32(argmax(lg))
		if got != want {
			t.Fatalf("token %d: got %d, torch %d", i, got, want)
		}
		next = []int32{got}
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, cfg, want string }{
		{"gpt2", `{"model_type":"gpt2","architectures":["GPT2LMHeadModel"]}`, "supported model types: llama, mistral, qwen2, qwen3"},
		{"rope", `{"model_type":"llama","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":4,"rope_scaling":{"type":"yarn","factor":2}}`, `rope_scaling type "yarn"`},
		{"heads", `{"model_type":"llama","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":3,"vocab_size":4}`, "num_key_value_heads"},
		{"json", `{"model_type":`, "parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.cfg), 0o644)
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if tc.name == "gpt2" && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("err = %v, want ErrUnsupported", err)
			}
		})
	}
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
