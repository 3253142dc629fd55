package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/whetstone/whetstone/internal/engine/nn"
)

// TestNF4RealWeights quantizes every projection of stories260K and checks
// each element against its block's NF4 bound and each tensor's relative RMS
// error.
func TestNF4RealWeights(t *testing.T) {
	t.Parallel()
	m, err := Load(storiesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	var hg float64 // the largest distance from [-1, 1] to a code
	for i := range 15 {
		hg = max(hg, float64(nn.NF4Codebook[i+1]-nn.NF4Codebook[i])/2)
	}
	worst := 0.0
	for i := range m.Layers {
		for _, tn := range LinearNames {
			l := m.Layers[i].Linears()[tn]
			q, err := nn.QuantizeNF4(l.W.Data, l.Out, l.In)
			if err != nil {
				t.Fatal(err)
			}
			d := q.Float32()
			var se, sw float64
			for j, v := range l.W.Data {
				blk := l.W.Data[j/nn.NF4BlockSize*nn.NF4BlockSize : min((j/nn.NF4BlockSize+1)*nn.NF4BlockSize, len(d))]
				amax := 0.0
				for _, u := range blk {
					amax = max(amax, math.Abs(float64(u)))
				}
				e := math.Abs(float64(v - d[j]))
				if e > amax*hg*(1+1e-6) {
					t.Fatalf("%s[%d]: %v → %v, error above the block bound %g", l.W.Name, j, v, d[j], amax*hg)
				}
				se += e * e
				sw += float64(v) * float64(v)
			}
			rel := math.Sqrt(se / sw)
			worst = max(worst, rel)
			if rel > 0.11 {
				t.Errorf("%s: relative RMS error %.4f above 0.11", l.W.Name, rel)
			}
		}
	}
	t.Logf("worst relative RMS error over %d projections: %.4f", 7*len(m.Layers), worst)
}

// TestQLoRAMatchesDequantizedModel: the loss and every LoRA gradient of
// stories260K with NF4 projections equal those of the float32 model holding
// the dequantized weights (same adapters, dropout, packed batch), so do the
// inference logits, and the base weights are really gone.
func TestQLoRAMatchesDequantizedModel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ bf16, dq bool }{{false, false}, {true, false}, {false, true}} {
		bf16 := tc.bf16
		mk := func(quantize bool) *Model {
			m, err := Load(storiesDir(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.AddLoRA(LoRAConfig{Rank: 4, Alpha: 8, Dropout: 0.1, Targets: []string{"all-linear"}}, 3); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(9, 9))
			for _, p := range m.LoRAParams() {
				for j := range p.Data {
					p.Data[j] = float32(r.NormFloat64() * 0.05)
				}
			}
			m.EnableLoRAGrad()
			n, err := m.QuantizeNF4(tc.dq)
			if err != nil {
				t.Fatal(err)
			}
			if !quantize { // put the dequantized weights back as float32
				for i := range m.Layers {
					for _, l := range m.Layers[i].Linears() {
						l.W.Data, l.Q = l.Q.Float32(), nil
					}
				}
			} else if n == 0 || !m.Quantized() {
				t.Fatalf("quantized %d weights", n)
			}
			m.UseBF16(bf16)
			return m
		}
		q, f := mk(true), mk(false)
		if q.NumParams() != f.NumParams() {
			t.Errorf("NumParams %d quantized, %d float32", q.NumParams(), f.NumParams())
		}
		b := packedBatch()
		lq, nq, err := q.ForwardBackward(b, 0.01, true)
		if err != nil {
			t.Fatal(err)
		}
		lf, nf, err := f.ForwardBackward(b, 0.01, true)
		if err != nil {
			t.Fatal(err)
		}
		if lq != lf || nq != nf {
			t.Errorf("%+v: loss %v over %d (NF4), %v over %d (dequantized float32)", tc, lq, nq, lf, nf)
		}
		pq, pf := q.LoRAParams(), f.LoRAParams()
		for i := range pq {
			if !slices.Equal(pq[i].Grad, pf[i].Grad) {
				t.Errorf("%+v: gradient of %s differs from the dequantized model's (max diff %g)", tc, pq[i].Name, maxAbsDiff(pq[i].Grad, pf[i].Grad))
			}
		}
		// Inference (generation, scoring) goes through the same products.
		ids := b.IDs[:10]
		gq, err := q.Forward(q.NewCache(16), ids, true)
		if err != nil {
			t.Fatal(err)
		}
		gf, err := f.Forward(f.NewCache(16), ids, true)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(gq, gf) {
			t.Errorf("%+v: Forward logits differ from the dequantized model's by %g", tc, maxAbsDiff(gq, gf))
		}
		for i := range q.Layers {
			for _, l := range q.Layers[i].Linears() {
				if l.W.Data != nil || l.Wbf != nil {
					t.Fatalf("%s still holds a dense copy", l.W.Name)
				}
			}
		}
	}
}

// TestLoadNF4 quantizes (and double-quantizes) while loading exactly as
// QuantizeNF4 does after Load.
func TestLoadNF4(t *testing.T) {
	t.Parallel()
	a, err := LoadNF4(storiesDir(t), true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(storiesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.QuantizeNF4(false); err != nil {
		t.Fatal(err)
	}
	if n, err := b.QuantizeNF4(true); n != 0 || err != nil { // double-quantizes the NF4 scales in place
		t.Fatal(n, err)
	}
	if n, err := a.QuantizeNF4(true); n != 0 || err != nil {
		t.Errorf("QuantizeNF4 after LoadNF4 quantized %d more weights (%v)", n, err)
	}
	for i := range a.Layers {
		la, lb := a.Layers[i].Linears(), b.Layers[i].Linears()
		for _, tn := range LinearNames {
			qa, qb := la[tn].Q, lb[tn].Q
			if qa == nil || la[tn].W.Data != nil || !slices.Equal(qa.Codes, qb.Codes) || !slices.Equal(qa.AbsmaxQ, qb.AbsmaxQ) || !slices.Equal(qa.Absmax2, qb.Absmax2) || qa.Offset != qb.Offset || qa.Absmax != nil {
				t.Fatalf("layer %d %s: LoadNF4 differs from Load+QuantizeNF4", i, tn)
			}
		}
	}
}
