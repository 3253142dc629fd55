package model

import (
	"testing"
)

// BenchmarkTrainStep is one LoRA forward+backward of stories260K on a 4×64
// batch.
func BenchmarkTrainStep(b *testing.B) {
	for _, bf16 := range []bool{false, true} {
		name := "f32"
		if bf16 {
			name = "bf16"
		}
		b.Run(name, func(b *testing.B) {
			m, err := Load(storiesDir(b))
			if err != nil {
				b.Fatal(err)
			}
			if err := m.AddLoRA(LoRAConfig{Rank: 8, Alpha: 16, Targets: []string{"all-linear"}}, 1); err != nil {
				b.Fatal(err)
			}
			m.UseBF16(bf16)
			const B, T = 4, 64
			batch := &Batch{B: B, T: T, IDs: make([]int32, B*T), Labels: make([]int32, B*T), Train: true}
			for i := range batch.IDs {
				batch.IDs[i] = int32((i*7 + 3) % 512)
				batch.Labels[i] = int32((i*7 + 10) % 512)
			}
			b.ReportAllocs()
			b.SetBytes(B * T) // "bytes" are tokens: MB/s reads as million tokens/s
			for b.Loop() {
				m.ZeroGrad()
				if _, _, err := m.ForwardBackward(batch, 1.0/(B*T), true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecode is greedy decoding of 64 tokens from BOS.
func BenchmarkDecode(b *testing.B) {
	m, err := Load(storiesDir(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Generate(b.Context(), []int32{1}, GenerateOptions{MaxNewTokens: 64}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
