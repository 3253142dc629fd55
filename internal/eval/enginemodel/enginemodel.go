// Package enginemodel runs evaluation on Whetstone's own engine: it adapts
// internal/engine/model (Llama-family decoders with optional PEFT LoRA
// adapters) and internal/tokenizer to eval.Model and eval.Tokenizer.
package enginemodel

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
	"github.com/whetstone/whetstone/internal/eval"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// Model is an engine model as an eval.Model. It is not safe for concurrent
// use.
type Model struct {
	m *model.Model
}

var _ eval.Model = (*Model)(nil)

// Load loads the model in base (a Hugging Face folder), attaches the PEFT
// LoRA adapter in adapter when it is not empty, and loads the tokenizer from
// the adapter folder when it has one, else from base. It satisfies
// eval.Loader.
func Load(ctx context.Context, base, adapter string) (eval.Model, eval.Tokenizer, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	m, err := model.Load(base)
	if err != nil {
		return nil, nil, fmt.Errorf("load model %s: %w", base, err)
	}
	tokDir := base
	if adapter != "" {
		if _, err := m.LoadAdapter(adapter); err != nil {
			return nil, nil, fmt.Errorf("load adapter %s: %w", adapter, err)
		}
		if hasTokenizer(adapter) {
			tokDir = adapter
		}
	}
	tok, err := tokenizer.Load(tokDir)
	if err != nil {
		return nil, nil, fmt.Errorf("load tokenizer %s: %w", tokDir, err)
	}
	return &Model{m: m}, tok, nil
}

func hasTokenizer(dir string) bool {
	for _, f := range []string{"tokenizer.json", "tokenizer.model"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// padTo is the length granularity of loss batches: the engine caches its
// activation buffers per shape, so rounding lengths up reuses them.
const padTo = 32

// Loss implements eval.Model. Tokens past the model's context
// (max_position_embeddings) are dropped.
func (m *Model) Loss(ctx context.Context, ids, labels []int) (float64, int, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	if len(ids) != len(labels) {
		return 0, 0, fmt.Errorf("loss: %d ids and %d labels", len(ids), len(labels))
	}
	if len(ids) < 2 {
		return 0, 0, nil
	}
	// Like the trainer, score only what fits in the model's context.
	maxPos := m.m.Cfg.MaxPositionEmbeddings
	if len(ids) > maxPos {
		ids, labels = ids[:maxPos], labels[:maxPos]
	}
	T := min(maxPos, (len(ids)+padTo-1)/padTo*padTo)
	b := &model.Batch{B: 1, T: T, IDs: make([]int32, T), Labels: make([]int32, T)}
	for i := range T {
		b.Labels[i] = nn.IgnoreIndex
		if i < len(ids) {
			b.IDs[i] = int32(ids[i])
		}
		// Hugging Face labels are aligned with ids; the engine's row i
		// predicts the next token.
		if i+1 < len(ids) && labels[i+1] != eval.IgnoreIndex {
			b.Labels[i] = int32(labels[i+1])
		}
	}
	sum, n, err := m.m.ForwardBackward(b, 0, false)
	if err != nil {
		return 0, 0, fmt.Errorf("loss: %w", err)
	}
	return sum, n, nil
}

// Generate implements eval.Model with a KV cache: greedy at temperature 0,
// else sampling from softmax(logits/temperature) with opts.Seed. A prompt
// that leaves no room for MaxNewTokens in the context keeps its last tokens.
func (m *Model) Generate(ctx context.Context, prompt []int, opts eval.GenerateOptions) ([]int, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("generate: empty prompt")
	}
	maxPos := m.m.Cfg.MaxPositionEmbeddings
	maxNew := min(opts.MaxNewTokens, maxPos-1)
	if over := len(prompt) + maxNew - maxPos; over > 0 {
		prompt = prompt[over:]
	}
	ids := make([]int32, len(prompt))
	for i, id := range prompt {
		ids[i] = int32(id)
	}
	stop := map[int]bool{}
	for _, s := range opts.Stop {
		stop[s] = true
	}
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x5851f42d4c957f2d))
	cache := m.m.NewCache(len(ids) + maxNew)
	var out []int
	for len(out) < maxNew {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		logits, err := m.m.Forward(cache, ids, false)
		if err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
		next := pick(logits, opts.Temperature, rng)
		if stop[next] {
			break
		}
		out = append(out, next)
		ids = []int32{int32(next)}
	}
	return out, nil
}

// pick chooses the next token: argmax at temperature <= 0 (lowest id on
// ties), else a draw from softmax(logits/temperature).
func pick(logits []float32, temperature float64, rng *rand.Rand) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	if temperature <= 0 {
		return best
	}
	mx := float64(logits[best])
	probs := make([]float64, len(logits))
	sum := 0.0
	for i, v := range logits {
		probs[i] = math.Exp((float64(v) - mx) / temperature)
		sum += probs[i]
	}
	u := rng.Float64() * sum
	for i, p := range probs {
		u -= p
		if u < 0 {
			return i
		}
	}
	return best
}
