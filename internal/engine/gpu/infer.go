package gpu

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/whetstone/whetstone/internal/engine/cuda"
	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
)

// logitsPad is the length granularity of Logits' passes: the workspace is
// cached per shape, so rounding the sequence up reuses it for 32 tokens.
const logitsPad = 32

// paddedLen is n rounded up to a multiple of logitsPad, at most maxT (≥ n).
func paddedLen(n, maxT int) int {
	return min(maxT, (n+logitsPad-1)/logitsPad*logitsPad)
}

// Logits returns the next-token logits after ids ([VocabSize] float32),
// from one forward pass over the whole sequence on the device. The device
// keeps no KV cache: generating n tokens costs n passes over the growing
// sequence. The pass runs over ids padded to a multiple of 32 tokens (so
// the activation buffers are reused); causal attention keeps the padding
// out of the result.
func (g *Model) Logits(ids []int32) ([]float32, error) {
	c := &g.Host.Cfg
	n := len(ids)
	maxT := g.Host.Rope.MaxPos
	if c.Window > 0 {
		maxT = min(maxT, c.Window)
	}
	if n == 0 {
		return nil, fmt.Errorf("logits: empty sequence")
	}
	if n > maxT {
		return nil, fmt.Errorf("logits: sequence of %d tokens exceeds the %d the model attends to", n, maxT)
	}
	T := paddedLen(n, maxT)
	b := &model.Batch{B: 1, T: T, IDs: make([]int32, T), Labels: make([]int32, T)}
	copy(b.IDs, ids)
	for i := range b.Labels {
		b.Labels[i] = nn.IgnoreIndex
	}
	w, _, err := g.forward(b, false)
	if err != nil {
		return nil, fmt.Errorf("logits: %w", err)
	}
	D, V, r := c.HiddenSize, c.VocabSize, n-1
	lg := w.logits.F32(0, V)
	if g.Opt.BF16 {
		err = g.Dev.Gemm(false, true, 1, V, D, 1, w.xbf.BF16(r*D, (r+1)*D), D, g.headbf, D, 0, lg, V, true)
	} else {
		err = g.Dev.Gemm(false, true, 1, V, D, 1, w.xnF.F32(r*D, (r+1)*D), D, g.head, D, 0, lg, V, false)
	}
	if err != nil {
		return nil, fmt.Errorf("logits: %w", err)
	}
	out := make([]float32, V)
	if err := cuda.Download(out, lg); err != nil {
		return nil, fmt.Errorf("logits: %w", err)
	}
	return out, nil
}

// Generate is model.Model.Generate on the device: the same options,
// sampler (model.Sample) and seeding, with each token's logits from
// Logits over the whole sequence so far.
func (g *Model) Generate(ctx context.Context, prompt []int32, o model.GenerateOptions, onToken func(int32) bool) ([]int32, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("generate: empty prompt (pass at least BOS)")
	}
	if o.MaxNewTokens <= 0 {
		o.MaxNewTokens = 128
	}
	maxPos := g.Host.Rope.MaxPos
	capacity := min(len(prompt)+o.MaxNewTokens, maxPos)
	if len(prompt) >= capacity {
		return nil, fmt.Errorf("generate: prompt of %d tokens leaves no room (max_position_embeddings %d)", len(prompt), maxPos)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6e6))
	seen := map[int32]bool{}
	for _, id := range prompt {
		seen[id] = true
	}
	seq := slices.Clone(prompt)
	var out []int32
	for len(out) < o.MaxNewTokens && len(seq) <= capacity {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		logits, err := g.Logits(seq)
		if err != nil {
			return out, err
		}
		id := model.Sample(logits, seen, o, rng)
		out = append(out, id)
		seen[id] = true
		if onToken != nil && !onToken(id) {
			break
		}
		if slices.Contains(o.Stop, id) {
			break
		}
		seq = append(seq, id)
	}
	return out, nil
}
