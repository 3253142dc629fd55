package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFusedMatchesUnfused runs the same training pass with the fused q/k/v
// and gate/up groups (fuse.go) and with every projection on its own: loss,
// every LoRA gradient and the inference logits agree to float32 summation
// order, in f32, bf16 and on an NF4 base, with biases (Qwen2), LoRA on some
// projections only, and LoRA dropout (which keeps the LoRA per member).
func TestFusedMatchesUnfused(t *testing.T) {
	t.Parallel()
	type tc struct {
		name      string
		dir       func(testing.TB) string
		lora      LoRAConfig
		bf16, nf4 bool
		loraFused bool // the stacked-A LoRA path must run
		bound     float64
	}
	all := []string{"all-linear"}
	llama := func(testing.TB) string { return "testdata/tiny-llama" }
	cases := []tc{
		{"stories-f32", storiesDir, LoRAConfig{Rank: 4, Alpha: 8, Targets: all}, false, false, true, 1e-5},
		{"stories-bf16", storiesDir, LoRAConfig{Rank: 4, Alpha: 8, Targets: all}, true, false, true, 1e-4},
		{"stories-nf4-bf16", storiesDir, LoRAConfig{Rank: 4, Alpha: 8, Targets: all}, true, true, true, 1e-4},
		{"stories-nf4-f32", storiesDir, LoRAConfig{Rank: 4, Alpha: 8, Targets: all}, false, true, true, 1e-5},
		{"stories-dropout-bf16", storiesDir, LoRAConfig{Rank: 4, Alpha: 8, Dropout: 0.1, Targets: all}, true, false, false, 1e-4},
		{"qwen2-bias-bf16", func(testing.TB) string { return "testdata/tiny-qwen2" }, LoRAConfig{Rank: 3, Alpha: 6, Targets: all}, true, false, true, 1e-4},
		{"llama-some-targets", llama, LoRAConfig{Rank: 4, Alpha: 8, RSLoRA: true, Targets: []string{"q", "v", "up"}}, false, false, true, 1e-5},
		{"llama-some-targets-bf16", llama, LoRAConfig{Rank: 4, Alpha: 8, Targets: []string{"k", "gate"}}, true, false, true, 1e-4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			mk := func(noFuse bool) *Model {
				m, err := Load(c.dir(t))
				if err != nil {
					t.Fatal(err)
				}
				m.noFuse = noFuse
				if err := m.AddLoRA(c.lora, 3); err != nil {
					t.Fatal(err)
				}
				r := rand.New(rand.NewPCG(5, 5))
				for _, p := range m.LoRAParams() {
					for j := range p.Data {
						p.Data[j] = float32(r.NormFloat64() * 0.05)
					}
				}
				if c.nf4 {
					if _, err := m.QuantizeNF4(false); err != nil {
						t.Fatal(err)
					}
				}
				m.UseBF16(c.bf16)
				return m
			}
			f, u := mk(false), mk(true)
			b := packedBatch()
			if c.dir(t) == storiesDir(t) {
				for i := range b.IDs {
					b.IDs[i] = int32((i*71 + 3) % 512)
				}
			}
			lf, nf, err := f.ForwardBackward(b, 0.1, true)
			if err != nil {
				t.Fatal(err)
			}
			lu, nu, err := u.ForwardBackward(b, 0.1, true)
			if err != nil {
				t.Fatal(err)
			}
			a := &f.ws.layers[0]
			if a.gq.ld == 0 || a.gg.ld == 0 || a.gq.lora != c.loraFused || a.gg.lora != c.loraFused {
				t.Fatalf("groups not used as expected: qkv ld %d lora %v, gate/up ld %d lora %v", a.gq.ld, a.gq.lora, a.gg.ld, a.gg.lora)
			}
			if c.bf16 && !c.nf4 && !f.fz[0].qkv.valid([]*Linear{&f.Layers[0].Q, &f.Layers[0].K, &f.Layers[0].V}) {
				t.Fatal("bf16 q/k/v weights are not views of one concatenated copy")
			}
			if u.ws.layers[0].gq.ld != 0 {
				t.Fatal("unfused model used a group")
			}
			if nf != nu || math.Abs(lf-lu) > c.bound*math.Abs(lu) {
				t.Errorf("loss %.9g over %d fused, %.9g over %d unfused", lf, nf, lu, nu)
			}
			pf, pu := f.LoRAParams(), u.LoRAParams()
			if !c.bf16 {
				worst := 0.0
				for i := range pf {
					rel := relL2(pf[i].Grad, pu[i].Grad)
					worst = max(worst, rel)
					if rel > c.bound {
						t.Errorf("%s: gradient relative L2 error %.3g fused vs unfused (bound %g)", pu[i].Name, rel, c.bound)
					}
				}
				t.Logf("loss %.7f vs %.7f, worst gradient error %.2g over %d tensors", lf, lu, worst, len(pf))
				return
			}
			// In bf16 a different float32 summation order flips the bf16
			// rounding of some later products' inputs, so fused and unfused
			// gradients differ by bf16 rounding noise, not float32's. Check
			// that fusing does not move the gradients further from the
			// float32 model's than the unfused bf16 products are.
			ref := mk(true)
			ref.UseBF16(false)
			if _, _, err := ref.ForwardBackward(b, 0.1, true); err != nil {
				t.Fatal(err)
			}
			pr := ref.LoRAParams()
			var ef, eu, efu float64
			for i := range pf {
				ef += sqDiff(pf[i].Grad, pr[i].Grad) / sqNorm(pr[i].Grad)
				eu += sqDiff(pu[i].Grad, pr[i].Grad) / sqNorm(pr[i].Grad)
				efu += sqDiff(pf[i].Grad, pu[i].Grad) / sqNorm(pu[i].Grad)
			}
			k := float64(len(pf))
			ef, eu, efu = math.Sqrt(ef/k), math.Sqrt(eu/k), math.Sqrt(efu/k)
			t.Logf("loss %.7f vs %.7f; gradient RMS relative error vs float32: fused %.3g, unfused %.3g; fused vs unfused %.3g", lf, lu, ef, eu, efu)
			if ef > 1.25*eu+1e-4 || efu > 2*eu+1e-4 {
				t.Errorf("fused bf16 gradients are further from float32's (%.3g) than unfused (%.3g), or from unfused (%.3g)", ef, eu, efu)
			}
		})
	}
}

func sqDiff(a, b []float32) float64 {
	var s float64
	for i, v := range b {
		d := float64(a[i] - v)
		s += d * d
	}
	return s
}

func sqNorm(a []float32) float64 {
	var s float64
	for _, v := range a {
		s += float64(v) * float64(v)
	}
	return s
}

func relL2(a, b []float32) float64 { return math.Sqrt(sqDiff(a, b) / sqNorm(b)) }
