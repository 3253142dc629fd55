package model

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/whetstone/whetstone/internal/safetensors"
)

// qwen3Dir writes a tiny Qwen3-style model (per-head q/k RMSNorm) built from
// tiny-llama's weights plus random q_norm/k_norm weights.
func qwen3Dir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	var cfg map[string]any
	readJSON(t, "testdata/tiny-llama/config.json", &cfg)
	cfg["model_type"] = "qwen3"
	cfg["architectures"] = []string{"Qwen3ForCausalLM"}
	b, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	f, err := safetensors.Open("testdata/tiny-llama/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []safetensors.Tensor
	for _, n := range f.Names() {
		d, sh, _ := f.Float32(n)
		ts = append(ts, safetensors.F32Tensor(n, sh, d))
	}
	r := rand.New(rand.NewPCG(9, 9))
	hd := int(cfg["head_dim"].(float64))
	for i := 0; i < int(cfg["num_hidden_layers"].(float64)); i++ {
		for _, n := range []string{"q_norm", "k_norm"} {
			w := make([]float32, hd)
			for j := range w {
				w[j] = 1 + float32(r.NormFloat64()*0.3)
			}
			ts = append(ts, safetensors.F32Tensor("model.layers."+itoa(i)+".self_attn."+n+".weight", []int{hd}, w))
		}
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "model.safetensors"), buf.Bytes(), 0o644)
	return dir
}

func itoa(i int) string { return string(rune('0' + i)) }

// packedBatch is two sequences, the second holding two packed samples.
func packedBatch() *Batch {
	T := 12
	ids := make([]int32, 2*T)
	for i := range ids {
		ids[i] = int32((i*37 + 5) % 128)
	}
	labels := make([]int32, 2*T)
	pos := make([]int32, 2*T)
	seg := make([]int32, 2*T)
	for b := 0; b < 2; b++ {
		for tt := 0; tt < T; tt++ {
			r := b*T + tt
			start := 0
			if b == 1 && tt >= 5 {
				start = 5
			}
			seg[r], pos[r] = int32(start), int32(tt-start)
			end := T
			if b == 1 && tt < 5 {
				end = 5
			}
			if tt+1 < end {
				labels[r] = ids[r+1]
			} else {
				labels[r] = -100
			}
		}
	}
	labels[2] = -100 // a masked prompt token
	return &Batch{B: 2, T: T, IDs: ids, Labels: labels, Pos: pos, SegStart: seg, DropoutSeed: 42, Train: true}
}

// TestModelGradFiniteDifference checks every trainable gradient of whole
// models (full fine-tuning, and LoRA with dropout on packed batches) against
// central finite differences of the loss.
func TestModelGradFiniteDifference(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		dir  func(testing.TB) string
		lora *LoRAConfig
	}{
		{"llama-full", func(testing.TB) string { return "testdata/tiny-llama" }, nil},
		{"qwen2-full", func(testing.TB) string { return "testdata/tiny-qwen2" }, nil},
		{"qwen3-full", qwen3Dir, nil},
		{"qwen3-lora-dropout", qwen3Dir, &LoRAConfig{Rank: 3, Alpha: 6, Dropout: 0.3, Targets: []string{"all-linear"}}},
		{"llama-rslora", func(testing.TB) string { return "testdata/tiny-llama" }, &LoRAConfig{Rank: 4, Alpha: 8, RSLoRA: true, Targets: []string{"q", "v", "down"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := Load(tc.dir(t))
			if err != nil {
				t.Fatal(err)
			}
			if tc.lora != nil {
				if err := m.AddLoRA(*tc.lora, 1); err != nil {
					t.Fatal(err)
				}
				// Non-zero B so A's gradient is non-zero too.
				for _, p := range m.LoRAParams() {
					for i := range p.Data {
						p.Data[i] += float32(math.Sin(float64(i))) * 0.05
					}
				}
			} else {
				m.EnableFullGrad()
			}
			b := packedBatch()
			m.ZeroGrad()
			_, n, err := m.ForwardBackward(b, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			loss := func() float64 {
				s, _, _ := m.ForwardBackward(b, 0, false)
				return s
			}
			_ = n
			checked := 0
			for _, p := range m.Trainable() {
				// Check the coordinates with the largest gradients.
				idx := make([]int, len(p.Grad))
				for i := range idx {
					idx[i] = i
				}
				sort.Slice(idx, func(a, b int) bool { return math.Abs(float64(p.Grad[idx[a]])) > math.Abs(float64(p.Grad[idx[b]])) })
				for _, i := range idx[:min(2, len(idx))] {
					g := float64(p.Grad[i])
					if math.Abs(g) < 3e-3 {
						continue
					}
					const h = 1e-2
					old := p.Data[i]
					p.Data[i] = old + h
					lp := loss()
					p.Data[i] = old - h
					lm := loss()
					p.Data[i] = old
					num := (lp - lm) / (2 * h)
					if rel := math.Abs(num-g) / math.Max(math.Abs(num), math.Abs(g)); rel > 3e-2 {
						t.Errorf("%s[%d]: analytic %.6g, finite difference %.6g", p.Name, i, g, num)
					}
					checked++
				}
			}
			if checked < 10 {
				t.Fatalf("only %d coordinates checked", checked)
			}
			t.Logf("%d coordinates agree", checked)
		})
	}
}
