package gpu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
	"github.com/whetstone/whetstone/internal/safetensors"
)

// cpuLogits is the CPU engine's next-token logits after ids (KV-cache
// forward, as model.Generate runs it).
func cpuLogits(t *testing.T, m *model.Model, ids []int32) []float32 {
	t.Helper()
	lg, err := m.Forward(m.NewCache(len(ids)), ids, false)
	if err != nil {
		t.Fatal(err)
	}
	return lg
}

func logSoftmaxAt(lg []float32, i int) float64 {
	mx := float64(slices.Max(lg))
	var s float64
	for _, v := range lg {
		s += math.Exp(float64(v) - mx)
	}
	return float64(lg[i]) - mx - math.Log(s)
}

// TestLogitsMatchesCPU checks the device's inference forward (what
// generate, evaluate and compare run with device cuda) against the CPU
// engine: float32 logits within 1e-4 relative at lengths on both sides of
// the 32-token padding, with and without a frozen LoRA adapter (as
// evaluate loads a fine-tune). bf16 products: the logits within 5e-2
// relative of the CPU's float32 ones (bf16 keeps 8 bits), and the
// log-probability Logits gives a token within 2e-3 of the loss the same
// device computes for it in ForwardBackward (other shapes, so other product
// algorithms: a float32 ulp apart can flip a later bf16 rounding).
func TestLogitsMatchesCPU(t *testing.T) {
	dev := testDevice(t)
	big := func(t *testing.T) string { return randomLlama(t, 2, 256, 4, 2, 688, 3000) }
	adapter := func(t *testing.T, m *model.Model) {
		if _, err := m.LoadAdapter("../model/testdata/stories260K.adapter"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		dir     func(t *testing.T) string
		setup   func(t *testing.T, m *model.Model)
		bf16    bool
		lengths []int
	}{
		{"stories-f32", storiesDir, nil, false, []int{1, 31, 32, 33, 100}},
		{"stories-adapter-f32", storiesDir, adapter, false, []int{7, 64, 65}},
		{"hd64-f32", big, nil, false, []int{5, 160}},
		{"stories-bf16", storiesDir, nil, true, []int{33, 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := model.Load(tc.dir(t))
			if err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(t, m)
			}
			g, err := New(dev, m, Options{BF16: tc.bf16})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			r := rand.New(rand.NewPCG(3, 4))
			for _, n := range tc.lengths {
				ids := make([]int32, n)
				for i := range ids {
					ids[i] = int32(r.IntN(m.Cfg.VocabSize))
				}
				got, err := g.Logits(ids)
				if err != nil {
					t.Fatalf("length %d: %v", n, err)
				}
				want := cpuLogits(t, m, ids)
				e := relErr(got, want)
				t.Logf("length %d: logits relative error %.3g", n, e)
				tol := 1e-4
				if tc.bf16 {
					tol = 5e-2
				}
				if !(e <= tol) {
					t.Errorf("length %d: logits relative error %.3g > %.0e", n, e, tol)
				}
				if !tc.bf16 || n < 2 {
					continue
				}
				// The last token's log-probability from Logits(ids[:n-1])
				// against the device's own loss for it.
				prev, err := g.Logits(ids[:n-1])
				if err != nil {
					t.Fatal(err)
				}
				b := &model.Batch{B: 1, T: n, IDs: ids, Labels: make([]int32, n)}
				for i := range b.Labels {
					b.Labels[i] = nn.IgnoreIndex
				}
				b.Labels[n-2] = ids[n-1]
				loss, cnt, err := g.ForwardBackward(b, 0, false)
				if err != nil || cnt != 1 {
					t.Fatalf("ForwardBackward: %v (%d rows)", err, cnt)
				}
				lp := -logSoftmaxAt(prev, int(ids[n-1]))
				if math.Abs(lp-loss) > 2e-3*math.Max(1, math.Abs(loss)) {
					t.Errorf("length %d: -log p from Logits %.7f, ForwardBackward loss %.7f", n, lp, loss)
				}
			}
		})
	}
}

// variant writes a copy of the model in src with config.json edited and
// extra tensors added (random, from seed).
func variant(t testing.TB, src string, edit func(cfg map[string]any), extra func(cfg map[string]any, r *rand.Rand) []safetensors.Tensor) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []safetensors.Tensor
	for _, n := range f.Names() {
		d, sh, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, safetensors.F32Tensor(n, sh, d))
	}
	if extra != nil {
		ts = append(ts, extra(cfg, rand.New(rand.NewPCG(9, 9)))...)
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// qwen3Dir is tiny-llama as a Qwen3 (per-head q/k RMSNorm, random norm
// weights): the decoding step's key goes through the k norm into the cache.
func qwen3Dir(t *testing.T) string {
	return variant(t, "../model/testdata/tiny-llama", func(cfg map[string]any) {
		cfg["model_type"], cfg["architectures"] = "qwen3", []string{"Qwen3ForCausalLM"}
	}, func(cfg map[string]any, r *rand.Rand) []safetensors.Tensor {
		hd := int(cfg["head_dim"].(float64))
		var ts []safetensors.Tensor
		for i := range int(cfg["num_hidden_layers"].(float64)) {
			for _, n := range []string{"q_norm", "k_norm"} {
				w := make([]float32, hd)
				for j := range w {
					w[j] = 1 + float32(r.NormFloat64()*0.3)
				}
				ts = append(ts, safetensors.F32Tensor(fmt.Sprintf("model.layers.%d.self_attn.%s.weight", i, n), []int{hd}, w))
			}
		}
		return ts
	})
}

// windowDir is tiny-llama as a Mistral with a sliding window of 40 tokens
// (sequences past it are refused, on the CPU and on the device).
func windowDir(t *testing.T) string {
	return variant(t, "../model/testdata/tiny-llama", func(cfg map[string]any) {
		cfg["model_type"], cfg["architectures"], cfg["sliding_window"] = "mistral", []string{"MistralForCausalLM"}, 40
	}, nil)
}

// gqaLlama is the random head-dim-64 Llama with 4 query heads over 2 kv
// heads.
func gqaLlama(t *testing.T) string { return randomLlama(t, 2, 256, 4, 2, 688, 3000) }

func randomIDs(r *rand.Rand, n, vocab int) []int32 {
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(r.IntN(vocab))
	}
	return ids
}

// TestForwardMatchesCPU runs the device KV cache (NewCache, Forward: a
// prefill, then decoding steps of one token and one call of several)
// beside the CPU engine's (model.Forward) on the same tokens: every step's
// logits within 1e-4 relative (bf16 products: 5e-2) — across the prefill's
// 32-token padding steps, with a LoRA adapter, q/k/v biases, q/k norms,
// GQA at head dim 64, NF4 weights, and up to a sliding window, where both
// refuse the next token.
func TestForwardMatchesCPU(t *testing.T) {
	dev := testDevice(t)
	for _, tc := range []struct {
		name          string
		dir           func(t *testing.T) string
		setup         func(t *testing.T, m *model.Model)
		bf16          bool
		prompt, steps int
	}{
		{"stories-adapter", storiesDir, func(t *testing.T, m *model.Model) {
			if _, err := m.LoadAdapter("../model/testdata/stories260K.adapter"); err != nil {
				t.Fatal(err)
			}
		}, false, 45, 60},
		{"stories-one-token-prompt", storiesDir, nil, false, 1, 40},
		{"tiny-qwen2-bias", func(*testing.T) string { return "../model/testdata/tiny-qwen2" }, nil, false, 20, 30},
		{"qwen3-qk-norm", qwen3Dir, nil, false, 33, 30},
		{"gqa-hd64", gqaLlama, nil, false, 31, 40},
		{"stories-nf4", storiesDir, func(t *testing.T, m *model.Model) {
			if _, err := m.QuantizeNF4(true); err != nil {
				t.Fatal(err)
			}
		}, false, 10, 30},
		{"window-40", windowDir, nil, false, 30, 15},
		{"stories-bf16", storiesDir, nil, true, 20, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := model.Load(tc.dir(t))
			if err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(t, m)
			}
			g, err := New(dev, m, Options{BF16: tc.bf16})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			capacity := tc.prompt + tc.steps + 3
			cc := m.NewCache(capacity)
			gc, err := g.NewCache(capacity)
			if err != nil {
				t.Fatal(err)
			}
			defer gc.Close()
			tol := 1e-4
			if tc.bf16 {
				tol = 5e-2
			}
			r := rand.New(rand.NewPCG(5, 6))
			worst := 0.0
			step := func(ids []int32) error {
				want, cerr := m.Forward(cc, ids, false)
				got, gerr := g.Forward(gc, ids)
				if (cerr == nil) != (gerr == nil) {
					t.Fatalf("at %d tokens: CPU error %v, GPU error %v", cc.Len, cerr, gerr)
				}
				if cerr != nil {
					return cerr
				}
				if gc.Len != cc.Len {
					t.Fatalf("GPU cache holds %d tokens, CPU %d", gc.Len, cc.Len)
				}
				e := relErr(got, want)
				worst = max(worst, e)
				if !(e <= tol) {
					t.Errorf("after %d tokens (%d new): logits relative error %.3g > %.0e", cc.Len, len(ids), e, tol)
				}
				return nil
			}
			if err := step(randomIDs(r, tc.prompt, m.Cfg.VocabSize)); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tc.steps; i++ {
				if err := step(randomIDs(r, 1, m.Cfg.VocabSize)); err != nil {
					if m.Cfg.Window > 0 && cc.Len == m.Cfg.Window {
						t.Logf("both refused token %d past the window: %v", cc.Len+1, err)
						break
					}
					t.Fatal(err)
				}
			}
			if m.Cfg.Window > 0 {
				if cc.Len != m.Cfg.Window {
					t.Fatalf("window %d: stopped at %d tokens", m.Cfg.Window, cc.Len)
				}
				return
			}
			if err := step(randomIDs(r, 3, m.Cfg.VocabSize)); err != nil { // several decoding steps in one call
				t.Fatal(err)
			}
			t.Logf("%d tokens: worst logits relative error %.3g", cc.Len, worst)
			if _, err := g.Forward(gc, randomIDs(r, 1, m.Cfg.VocabSize)); err == nil {
				t.Error("a token past the cache's capacity was accepted")
			}
		})
	}
}

// TestGenerateMatchesCPU: greedy and seeded sampling on the device (KV
// cache: prefill, then one decoding step a token) give the CPU engine's
// tokens (model.Generate): stories260K with an adapter on a short prompt,
// a 40-token prompt generating 100 (across the 64-, 96- and 128-token
// steps of the prefill's padding and past them), the random GQA Llama at
// head dim 64, and a model with a sliding window, where both stop with an
// error at the window. A prompt that fills the context is refused as on
// the CPU. Where the two ever part, the CPU's logits must show a near tie
// (1e-4) between the two tokens.
func TestGenerateMatchesCPU(t *testing.T) {
	dev := testDevice(t)
	greedy := model.GenerateOptions{MaxNewTokens: 60}
	sampled := model.GenerateOptions{MaxNewTokens: 40, Temperature: 0.8, TopK: 40, TopP: 0.9, RepetitionPenalty: 1.1, Seed: 7}
	r := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct {
		name    string
		dir     func(t *testing.T) string
		adapter bool
		prompt  []int32
		opts    []model.GenerateOptions
	}{
		{"stories-adapter", storiesDir, true, []int32{1, 403, 407, 261, 378, 300}, []model.GenerateOptions{greedy, sampled}},
		{"stories-long", storiesDir, false, append([]int32{1}, randomIDs(r, 39, 512)...), []model.GenerateOptions{{MaxNewTokens: 100}}},
		{"gqa-hd64", gqaLlama, false, append([]int32{1}, randomIDs(r, 19, 3000)...), []model.GenerateOptions{{MaxNewTokens: 50}, sampled}},
		{"window-40", windowDir, false, randomIDs(r, 10, 128), []model.GenerateOptions{greedy}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := model.Load(tc.dir(t))
			if err != nil {
				t.Fatal(err)
			}
			if tc.adapter {
				if _, err := m.LoadAdapter("../model/testdata/stories260K.adapter"); err != nil {
					t.Fatal(err)
				}
			}
			g, err := New(dev, m, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			prompt := tc.prompt
			for _, o := range tc.opts {
				want, cerr := m.Generate(t.Context(), prompt, o, nil)
				var streamed []int32
				got, gerr := g.Generate(t.Context(), prompt, o, func(id int32) bool { streamed = append(streamed, id); return true })
				if (cerr == nil) != (gerr == nil) {
					t.Fatalf("temperature %g: CPU error %v, GPU error %v", o.Temperature, cerr, gerr)
				}
				if cerr != nil {
					t.Logf("temperature %g: both stopped after %d tokens: %v", o.Temperature, len(want), gerr)
				}
				if !slices.Equal(got, streamed) {
					t.Errorf("returned %v, streamed %v", got, streamed)
				}
				if slices.Equal(got, want) {
					t.Logf("temperature %g: %d tokens equal the CPU's", o.Temperature, len(got))
					continue
				}
				k := 0
				for k < min(len(got), len(want)) && got[k] == want[k] {
					k++
				}
				if k == min(len(got), len(want)) {
					t.Fatalf("temperature %g: GPU %d tokens, CPU %d: %v vs %v", o.Temperature, len(got), len(want), got, want)
				}
				lg := cpuLogits(t, m, append(slices.Clone(prompt), want[:k]...))
				gap := math.Abs(float64(lg[got[k]] - lg[want[k]]))
				if gap > 1e-4*math.Max(1, math.Abs(float64(lg[want[k]]))) {
					t.Fatalf("temperature %g: token %d: GPU %d, CPU %d (logit gap %.3g, not a tie)\nGPU %v\nCPU %v", o.Temperature, k, got[k], want[k], gap, got, want)
				}
				t.Logf("temperature %g: parted at token %d on a near tie (gap %.3g)", o.Temperature, k, gap)
			}
			long := make([]int32, m.Rope.MaxPos)
			if _, err := g.Generate(t.Context(), long, model.GenerateOptions{MaxNewTokens: 4}, nil); err == nil {
				t.Error("a prompt filling the context was accepted")
			}
		})
	}
}

// TestKVCacheBytes: the KV cache's size from the config alone: keys and
// values of every layer plus the scores, for the capacity cut to
// max_position_embeddings and to the sliding window.
func TestKVCacheBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		dir      func(t *testing.T) string
		capacity int
		want     int64
	}{
		// stories260K: 5 layers, 4 kv heads × 8, 8 heads, 512 positions.
		{"stories", storiesDir, 100, 4 * 100 * (2*5*32 + 8)},
		{"stories-past-context", storiesDir, 5000, 4 * 512 * (2*5*32 + 8)},
		// tiny-llama as Mistral: 2 layers, 2 kv heads × 8, 4 heads, window 40.
		{"window", windowDir, 100, 4 * 40 * (2*2*16 + 4)},
		{"window-under", windowDir, 30, 4 * 30 * (2*2*16 + 4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := model.ReadConfig(tc.dir(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := KVCacheBytes(cfg, tc.capacity); got != tc.want {
				t.Errorf("KVCacheBytes(%d) = %d, want %d", tc.capacity, got, tc.want)
			}
		})
	}
}

// TestGenerateMemory: what generation allocates on the device — the model,
// a prefill's buffers, the decoding row's and the KV cache — stays within
// EstimateGenerate (less the runtime allowance: the CUDA context and
// cuBLASLt's workspace, which the baseline holds) for the sequence length, as
// the GPU lease of evaluate asks for; the cache is KVCacheBytes, and the
// estimate counts it on top of the forward pass's.
func TestGenerateMemory(t *testing.T) {
	dev := testDevice(t)
	for _, tc := range []struct {
		name          string
		dir           func(t *testing.T) string
		prompt, steps int
	}{
		{"stories", storiesDir, 100, 60},
		{"gqa-hd64", gqaLlama, 64, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := model.Load(tc.dir(t))
			if err != nil {
				t.Fatal(err)
			}
			base := dev.Allocated()
			dev.ResetPeak()
			g, err := New(dev, m, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			before := dev.Allocated()
			kc, err := g.NewCache(tc.prompt + tc.steps)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := dev.Allocated()-before, KVCacheBytes(&m.Cfg, tc.prompt+tc.steps); got != want {
				t.Errorf("NewCache allocated %d bytes, KVCacheBytes %d", got, want)
			}
			kc.Close()
			o := model.GenerateOptions{MaxNewTokens: tc.steps}
			if _, err := g.Generate(t.Context(), randomIDs(rand.New(rand.NewPCG(1, 2)), tc.prompt, m.Cfg.VocabSize), o, nil); err != nil {
				t.Fatal(err)
			}
			// base holds cuBLASLt's workspace already: compare with the
			// estimate less its runtime allowance.
			peak := dev.PeakAllocated() - base
			seq := tc.prompt + tc.steps
			e := EstimateGenerate(m, seq, Options{})
			t.Logf("peak allocated %d bytes; estimate less runtime %d (KV cache %d)", peak, e.Total-e.Runtime, e.KVCache)
			if peak > e.Total-e.Runtime {
				t.Errorf("generation allocated %d bytes at its peak, over the estimate %d (less the runtime allowance)", peak, e.Total-e.Runtime)
			}
			fwd := EstimateMemory(m, 1, seq, Options{Checkpointing: true})
			if e.KVCache != KVCacheBytes(&m.Cfg, seq) || e.Total < fwd.Total+e.KVCache {
				t.Errorf("EstimateGenerate %+v: want the forward pass's %d bytes plus the KV cache's %d", e, fwd.Total, KVCacheBytes(&m.Cfg, seq))
			}
		})
	}
}

// BenchmarkGenerate measures greedy generation on the device (tok/s: new
// tokens per second, prompt included in the time) with the KV cache
// (Generate) and, for comparison, recomputing the whole sequence for each
// token (Logits, what Generate did before the cache), on a random
// Llama-shaped model (8 layers, hidden 1024, 16 heads over 4 kv heads of
// 64, vocab 32000). It skips without a GPU.
func BenchmarkGenerate(b *testing.B) {
	dev := testDevice(b)
	m, err := model.Load(randomLlama(b, 8, 1024, 16, 4, 2816, 32000))
	if err != nil {
		b.Fatal(err)
	}
	for _, bf16 := range []bool{false, true} {
		g, err := New(dev, m, Options{BF16: bf16})
		if err != nil {
			b.Fatal(err)
		}
		prompt := randomIDs(rand.New(rand.NewPCG(3, 3)), 128, m.Cfg.VocabSize)
		const n = 128
		name := "f32"
		if bf16 {
			name = "bf16"
		}
		b.Run(name+"/kv-cache", func(b *testing.B) {
			for b.Loop() {
				out, err := g.Generate(b.Context(), prompt, model.GenerateOptions{MaxNewTokens: n}, nil)
				if err != nil || len(out) != n {
					b.Fatalf("%d tokens: %v", len(out), err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
		})
		b.Run(name+"/recompute", func(b *testing.B) {
			for b.Loop() {
				seq := slices.Clone(prompt)
				for range n {
					lg, err := g.Logits(seq)
					if err != nil {
						b.Fatal(err)
					}
					seq = append(seq, model.Sample(lg, nil, model.GenerateOptions{}, nil))
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
		})
		g.Close()
	}
}

func TestPaddedLen(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ n, maxT, want int }{{1, 512, 32}, {32, 512, 32}, {33, 512, 64}, {500, 512, 512}, {512, 512, 512}, {40, 48, 48}} {
		if got := paddedLen(c.n, c.maxT); got != c.want {
			t.Errorf("paddedLen(%d, %d) = %d, want %d", c.n, c.maxT, got, c.want)
		}
	}
}
