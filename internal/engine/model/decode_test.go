package model

import (
	"math"
	"testing"
)

// TestDecodeBatchMatchesForward decodes three sequences of different
// lengths as one batch and checks each row's logits against Forward on that
// sequence alone, with and without a LoRA adapter.
func TestDecodeBatchMatchesForward(t *testing.T) {
	t.Parallel()
	for _, lora := range []bool{false, true} {
		m, err := Load("testdata/tiny-llama")
		if err != nil {
			t.Fatal(err)
		}
		if lora {
			if err := m.AddLoRA(LoRAConfig{Rank: 2, Alpha: 4, Targets: []string{"all-linear"}}, 3); err != nil {
				t.Fatal(err)
			}
			for _, p := range m.LoRAParams() {
				for i := range p.Data {
					p.Data[i] += float32(math.Sin(float64(i))) * 0.1
				}
			}
		}
		prompts := [][]int32{{1, 5, 77}, {1, 9, 12, 100, 33, 2}, {1}}
		next := []int32{40, 41, 42}
		var caches []*KVCache
		var want [][]float32
		for i, p := range prompts {
			c := m.NewCache(16)
			if _, err := m.Forward(c, p, false); err != nil {
				t.Fatal(err)
			}
			caches = append(caches, c)
			alone := m.NewCache(16)
			lg, err := m.Forward(alone, append(append([]int32(nil), p...), next[i]), false)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, lg)
		}
		got, err := m.DecodeBatch(caches, next)
		if err != nil {
			t.Fatal(err)
		}
		V := m.Cfg.VocabSize
		for i := range prompts {
			if caches[i].Len != len(prompts[i])+1 {
				t.Errorf("lora=%v seq %d: cache length %d, want %d", lora, i, caches[i].Len, len(prompts[i])+1)
			}
			var worst float64
			for j := range V {
				worst = math.Max(worst, math.Abs(float64(got[i*V+j]-want[i][j])))
			}
			if worst > 1e-4 {
				t.Errorf("lora=%v seq %d: max |Δ logit| %.3g", lora, i, worst)
			}
		}
	}
}
