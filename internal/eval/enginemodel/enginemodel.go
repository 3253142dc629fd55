// Package enginemodel runs evaluation on Whetstone's own engine: it adapts
// internal/engine/model (Llama-family decoders with optional PEFT LoRA
// adapters) and internal/tokenizer to eval.Model and eval.Tokenizer. A
// model runs on the CPU (Load) or on a CUDA device (LoadOn), where the
// engine's device model (package gpu) holds the weights and runs the
// forward passes.
package enginemodel

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/whetstone/whetstone/internal/engine/cuda"
	"github.com/whetstone/whetstone/internal/engine/gpu"
	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
	"github.com/whetstone/whetstone/internal/eval"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// Model is an engine model as an eval.Model. It is not safe for concurrent
// use.
type Model struct {
	m *model.Model
	g *gpu.Model // the device copy when loaded with LoadOn a device
}

var (
	_ eval.Model = (*Model)(nil)
	_ io.Closer  = (*Model)(nil)
)

// LoadOn returns an eval.Loader whose models run on dev; nil is the CPU
// (Load). On a device the weights (and a frozen adapter) are uploaded in
// float32, as the CPU engine holds them, and Loss and Generate run there
// (Generate with a KV cache on the device: one pass over the prompt, then
// one decoding step per token). Close the model to free the device memory.
func LoadOn(dev *cuda.Device) eval.Loader {
	if dev == nil {
		return Load
	}
	return func(ctx context.Context, base, adapter string) (eval.Model, eval.Tokenizer, error) {
		m, tok, err := Load(ctx, base, adapter)
		if err != nil {
			return nil, nil, err
		}
		if err := m.(*Model).ToDevice(dev, base); err != nil {
			return nil, nil, err
		}
		return m, tok, nil
	}
}

// ToDevice uploads the model to dev (see LoadOn); name names it in errors.
// It returns a *DeviceError when the device cannot hold it; the model then
// stays on the CPU.
func (m *Model) ToDevice(dev *cuda.Device, name string) error {
	m.Close()
	g, err := gpu.New(dev, m.m, gpu.Options{})
	if err != nil {
		return &DeviceError{Model: name, Device: fmt.Sprintf("cuda:%d", dev.Info.Index), Err: err}
	}
	m.g = g
	return nil
}

// deviceSeq is the sequence length DeviceBytes sizes activations for.
const deviceSeq = 2048

// DeviceBytes is about the device memory the model needs for evaluation:
// its float32 weights, the forward pass's buffers for a sequence of
// min(max_position_embeddings, 2048) tokens (one layer's activations kept,
// as a forward pass keeps) and generation's KV cache for as many tokens
// (gpu.EstimateGenerate).
func (m *Model) DeviceBytes() int64 {
	T := min(m.m.Rope.MaxPos, deviceSeq)
	return gpu.EstimateGenerate(m.m, T, gpu.Options{}).Total
}

// DeviceError is returned by LoadOn's loader for a model that loaded but
// could not be put on the device (too little device memory, a head size the
// kernels lack): the CPU can still run it.
type DeviceError struct {
	Model, Device string
	Err           error
}

func (e *DeviceError) Error() string {
	return fmt.Sprintf("load model %s onto %s: %v", e.Model, e.Device, e.Err)
}

func (e *DeviceError) Unwrap() error { return e.Err }

// Close frees the model's device memory (nothing on the CPU). It is safe
// to call twice.
func (m *Model) Close() error {
	m.g.Close()
	m.g = nil
	return nil
}

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
	fb := m.m.ForwardBackward
	if m.g != nil {
		fb = m.g.ForwardBackward
	}
	sum, n, err := fb(b, 0, false)
	if err != nil {
		return 0, 0, fmt.Errorf("loss: %w", err)
	}
	return sum, n, nil
}

// Generate implements eval.Model (with a KV cache, on the CPU or the device): greedy at temperature 0,
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
	// step gives the logits after the sequence extended by ids: only the
	// new ids run, against a KV cache (on the device when the model is
	// there).
	var step func(ids []int32) ([]float32, error)
	if m.g != nil {
		cache, err := m.g.NewCache(len(ids) + maxNew)
		if err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
		defer cache.Close()
		step = func(ids []int32) ([]float32, error) { return m.g.Forward(cache, ids) }
	} else {
		cache := m.m.NewCache(len(ids) + maxNew)
		step = func(ids []int32) ([]float32, error) { return m.m.Forward(cache, ids, false) }
	}
	var out []int
	for len(out) < maxNew {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		logits, err := step(ids)
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
