package model

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestGenerate(t *testing.T) {
	t.Parallel()
	m, err := Load(storiesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ Generated []int32 }
	readJSON(t, "testdata/stories260K.generate.json", &ref)
	ctx := context.Background()
	gen := func(o GenerateOptions) []int32 {
		out, err := m.Generate(ctx, []int32{1}, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Run("greedy", func(t *testing.T) {
		if got := gen(GenerateOptions{MaxNewTokens: 60}); !slices.Equal(got, ref.Generated) {
			t.Fatalf("greedy ids %v, torch %v", got, ref.Generated)
		}
	})
	t.Run("top-k 1 is greedy", func(t *testing.T) {
		if got := gen(GenerateOptions{MaxNewTokens: 30, Temperature: 1.5, TopK: 1, Seed: 3}); !slices.Equal(got, ref.Generated[:30]) {
			t.Fatalf("top-k=1 ids %v", got)
		}
	})
	t.Run("seeded sampling", func(t *testing.T) {
		o := GenerateOptions{MaxNewTokens: 30, Temperature: 1.2, TopP: 0.95, Seed: 11}
		a, b := gen(o), gen(o)
		o.Seed = 12
		c := gen(o)
		if !slices.Equal(a, b) || slices.Equal(a, c) {
			t.Fatalf("same seed %v / %v, other seed %v", a, b, c)
		}
	})
	t.Run("stop token", func(t *testing.T) {
		stop := ref.Generated[5]
		got := gen(GenerateOptions{MaxNewTokens: 60, Stop: []int32{stop}})
		if len(got) != 6 || got[5] != stop {
			t.Fatalf("got %v, want to stop after %d", got, stop)
		}
	})
	t.Run("repetition penalty", func(t *testing.T) {
		if got := gen(GenerateOptions{MaxNewTokens: 60, RepetitionPenalty: 1.5}); slices.Equal(got, ref.Generated) {
			t.Fatal("penalty changed nothing")
		}
	})
}

func TestSampleTopP(t *testing.T) {
	t.Parallel()
	// probabilities ∝ exp(logits): token 0 holds ~87%; top-p 0.5 keeps only it.
	rng := rand.New(rand.NewPCG(1, 1))
	for range 50 {
		lg := []float32{3, 1, 0, -1}
		if id := Sample(lg, nil, GenerateOptions{Temperature: 1, TopP: 0.5}, rng); id != 0 {
			t.Fatalf("sampled %d outside the nucleus", id)
		}
	}
}
