package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// GenerateOptions controls decoding. The zero value is greedy decoding of
// up to 128 tokens.
type GenerateOptions struct {
	MaxNewTokens int     // Defaults to 128.
	Temperature  float64 // 0 means greedy.
	TopK         int     // 0 means no top-k filter.
	TopP         float64 // 0 or 1 means no nucleus filter.
	// RepetitionPenalty (Hugging Face/CTRL style) divides positive logits and
	// multiplies negative ones of already-seen tokens. 0 or 1 means none.
	RepetitionPenalty float64
	// Stop ends generation after any of these ids (which is included).
	Stop []int32
	Seed uint64
}

// Generate continues prompt and returns the new ids. onToken, if non-nil,
// sees each new id as it is produced and may return false to stop.
func (m *Model) Generate(ctx context.Context, prompt []int32, o GenerateOptions, onToken func(int32) bool) ([]int32, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("generate: empty prompt (pass at least BOS)")
	}
	if o.MaxNewTokens <= 0 {
		o.MaxNewTokens = 128
	}
	capacity := min(len(prompt)+o.MaxNewTokens, m.Rope.MaxPos)
	if len(prompt) >= capacity {
		return nil, fmt.Errorf("generate: prompt of %d tokens leaves no room (max_position_embeddings %d)", len(prompt), m.Rope.MaxPos)
	}
	cache := m.NewCache(capacity)
	rng := rand.New(rand.NewPCG(o.Seed, 0x6e6))
	seen := map[int32]bool{}
	for _, id := range prompt {
		seen[id] = true
	}
	var out []int32
	next := prompt
	for len(out) < o.MaxNewTokens && cache.Len+len(next) <= cache.Cap {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		logits, err := m.Forward(cache, next, false)
		if err != nil {
			return out, err
		}
		id := Sample(logits, seen, o, rng)
		out = append(out, id)
		seen[id] = true
		if onToken != nil && !onToken(id) {
			break
		}
		if slices.Contains(o.Stop, id) {
			break
		}
		next = []int32{id}
	}
	return out, nil
}

// Sample picks the next id from logits (modified in place) with the
// options' penalty, temperature, top-k and top-p.
func Sample(logits []float32, seen map[int32]bool, o GenerateOptions, rng *rand.Rand) int32 {
	if p := float32(o.RepetitionPenalty); p > 0 && p != 1 {
		for id := range seen {
			if logits[id] > 0 {
				logits[id] /= p
			} else {
				logits[id] *= p
			}
		}
	}
	if o.Temperature <= 0 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return int32(best)
	}
	type cand struct {
		id int32
		p  float64
	}
	cs := make([]cand, len(logits))
	mx := math.Inf(-1)
	for i, v := range logits {
		x := float64(v) / o.Temperature
		cs[i] = cand{int32(i), x}
		mx = math.Max(mx, x)
	}
	sort.Slice(cs, func(a, b int) bool { return cs[a].p > cs[b].p || (cs[a].p == cs[b].p && cs[a].id < cs[b].id) })
	if o.TopK > 0 && o.TopK < len(cs) {
		cs = cs[:o.TopK]
	}
	var sum float64
	for i := range cs {
		cs[i].p = math.Exp(cs[i].p - mx)
		sum += cs[i].p
	}
	if o.TopP > 0 && o.TopP < 1 {
		acc := 0.0
		for i := range cs {
			acc += cs[i].p / sum
			if acc >= o.TopP {
				cs = cs[:i+1]
				break
			}
		}
		sum = 0
		for _, c := range cs {
			sum += c.p
		}
	}
	r := rng.Float64() * sum
	for _, c := range cs {
		r -= c.p
		if r <= 0 {
			return c.id
		}
	}
	return cs[len(cs)-1].id
}
