package gpu

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/whetstone/whetstone/internal/engine/cuda"
	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
)

// logitsPad is the length granularity of Logits' passes (and a KV cache's
// prefill): the workspace is cached per shape, so rounding the sequence up
// reuses it for 32 tokens.
const logitsPad = 32

// paddedLen is n rounded up to a multiple of logitsPad, at most maxT (≥ n).
func paddedLen(n, maxT int) int {
	return min(maxT, (n+logitsPad-1)/logitsPad*logitsPad)
}

// maxLen is the longest sequence the device runs for inference:
// max_position_embeddings, or the sliding window when the model has one
// (longer sequences are refused, as the CPU engine refuses them).
func maxLen(c *model.Config, maxPos int) int {
	if c.Window > 0 {
		return min(maxPos, c.Window)
	}
	return maxPos
}

// Logits returns the next-token logits after ids ([VocabSize] float32),
// from one forward pass over the whole sequence on the device (no KV cache:
// see Forward for incremental decoding). The pass runs over ids padded to a
// multiple of 32 tokens (so the activation buffers are reused); causal
// attention keeps the padding out of the result.
func (g *Model) Logits(ids []int32) ([]float32, error) {
	w, err := g.prefill(ids, nil)
	if err != nil {
		return nil, fmt.Errorf("logits: %w", err)
	}
	lg, err := g.headRow(w, len(ids)-1)
	if err != nil {
		return nil, fmt.Errorf("logits: %w", err)
	}
	return lg, nil
}

// prefill runs ids (padded to a multiple of logitsPad) through the model up
// to the final norm; with cache set it also stores every layer's keys and
// values of the len(ids) real rows in it (from row 0).
func (g *Model) prefill(ids []int32, cache *KVCache) (*workspace, error) {
	n := len(ids)
	maxT := maxLen(&g.Host.Cfg, g.Host.Rope.MaxPos)
	if n == 0 {
		return nil, fmt.Errorf("empty sequence")
	}
	if n > maxT {
		return nil, fmt.Errorf("sequence of %d tokens exceeds the %d the model attends to", n, maxT)
	}
	T := paddedLen(n, maxT)
	b := &model.Batch{B: 1, T: T, IDs: make([]int32, T), Labels: make([]int32, T)}
	copy(b.IDs, ids)
	for i := range b.Labels {
		b.Labels[i] = nn.IgnoreIndex
	}
	var kv *kvStep
	if cache != nil {
		kv = &kvStep{cache: cache, rows: n}
	}
	w, _, err := g.forward(b, false, kv)
	return w, err
}

// headRow is the head product of row r of w's final-normed hidden states
// (bf16 operands in bf16 mode), read back: the next-token logits.
func (g *Model) headRow(w *workspace, r int) ([]float32, error) {
	c := &g.Host.Cfg
	D, V := c.HiddenSize, c.VocabSize
	lg := w.logits.F32(0, V)
	var err error
	if g.Opt.BF16 {
		err = g.Dev.Gemm(false, true, 1, V, D, 1, w.xbf.BF16(r*D, (r+1)*D), D, g.headbf, D, 0, lg, V, true)
	} else {
		err = g.Dev.Gemm(false, true, 1, V, D, 1, w.xnF.F32(r*D, (r+1)*D), D, g.head, D, 0, lg, V, false)
	}
	if err != nil {
		return nil, err
	}
	out := make([]float32, V)
	if err := cuda.Download(out, lg); err != nil {
		return nil, err
	}
	return out, nil
}

// KVCache holds one sequence's keys (after RoPE) and values on the device
// for incremental decoding (Forward), as model.KVCache on the CPU: per
// layer [rows, KVHeads·HeadDim] float32, where rows is the capacity (at
// most the sliding window, past which Forward refuses to go). Close frees
// it.
type KVCache struct {
	Len int // rows filled
	Cap int // tokens it may hold (Forward refuses more)

	g      *Model
	k, v   []cuda.Buffer // per layer, views into buf
	scores cuda.Buffer   // attention scratch [Heads, rows]
	bufs   []cuda.Buffer
}

// cacheRows is how many positions a cache of capacity tokens stores.
func cacheRows(c *model.Config, capacity int) int {
	return min(capacity, maxLen(c, c.MaxPositionEmbeddings))
}

// KVCacheBytes is the device memory of a KV cache for capacity tokens of a
// model of config c (what NewCache allocates): keys and values of every
// layer in float32, and the decoding attention's scores.
func KVCacheBytes(c *model.Config, capacity int) int64 {
	rows := int64(cacheRows(c, capacity))
	kd := int64(c.NumKeyValueHeads) * int64(c.HeadDim)
	return 4 * rows * (2*int64(c.NumHiddenLayers)*kd + int64(c.NumAttentionHeads))
}

// NewCache allocates an empty KV cache for up to capacity tokens (at most
// max_position_embeddings), as model.Model.NewCache.
func (g *Model) NewCache(capacity int) (*KVCache, error) {
	c := &g.Host.Cfg
	capacity = min(capacity, g.Host.Rope.MaxPos)
	if capacity < 1 {
		return nil, fmt.Errorf("kv cache: capacity %d", capacity)
	}
	rows := cacheRows(c, capacity)
	kd := c.NumKeyValueHeads * c.HeadDim
	kc := &KVCache{Cap: capacity, g: g, k: make([]cuda.Buffer, len(g.layers)), v: make([]cuda.Buffer, len(g.layers))}
	alloc := func(n int) (cuda.Buffer, error) {
		b, err := g.Dev.Alloc(int64(n) * 4)
		if err == nil {
			kc.bufs = append(kc.bufs, b)
		}
		return b, err
	}
	kv, err := alloc(2 * len(g.layers) * rows * kd)
	if err == nil {
		kc.scores, err = alloc(c.NumAttentionHeads * rows)
	}
	if err != nil {
		kc.Close()
		return nil, fmt.Errorf("kv cache of %d tokens (%d bytes): %w", capacity, KVCacheBytes(c, capacity), err)
	}
	for li := range g.layers {
		o := 2 * li * rows * kd
		kc.k[li] = kv.F32(o, o+rows*kd)
		kc.v[li] = kv.F32(o+rows*kd, o+2*rows*kd)
	}
	return kc, nil
}

// Close frees the cache's device memory; it is safe to call twice.
func (kc *KVCache) Close() {
	if kc == nil {
		return
	}
	for _, b := range kc.bufs {
		kc.g.Dev.Free(b)
	}
	kc.bufs, kc.k, kc.v = nil, nil, nil
}

// Forward is model.Model.Forward on the device for the last token: it runs
// ids after the tokens already in cache, appends their keys and values to
// it and returns the logits [VocabSize] of the last one. An empty cache
// takes ids in one forward pass over them (the prefill, padded as Logits
// pads); after that each id is one decoding step: the layer stack for one
// row, its attention over the cached keys (AttentionDecode).
func (g *Model) Forward(cache *KVCache, ids []int32) ([]float32, error) {
	c := &g.Host.Cfg
	n := len(ids)
	switch {
	case n == 0:
		return nil, fmt.Errorf("forward: no tokens")
	case cache == nil || cache.g != g || cache.k == nil:
		return nil, errors.New("forward: a KV cache of another model, or closed")
	case cache.Len+n > cache.Cap:
		return nil, fmt.Errorf("forward: %d tokens exceed the cache capacity %d", cache.Len+n, cache.Cap)
	case c.Window > 0 && cache.Len+n > c.Window:
		return nil, fmt.Errorf("forward: %d tokens exceed the sliding window of %d, which is not implemented", cache.Len+n, c.Window)
	}
	for _, id := range ids {
		if id < 0 || int(id) >= c.VocabSize {
			return nil, fmt.Errorf("forward: token id %d outside vocabulary of %d", id, c.VocabSize)
		}
	}
	if cache.Len == 0 {
		w, err := g.prefill(ids, cache)
		if err != nil {
			return nil, fmt.Errorf("forward: %w", err)
		}
		cache.Len = n
		lg, err := g.headRow(w, n-1)
		if err != nil {
			return nil, fmt.Errorf("forward: %w", err)
		}
		return lg, nil
	}
	var w *workspace
	for _, id := range ids {
		p := cache.Len
		b := &model.Batch{B: 1, T: 1, IDs: []int32{id}, Labels: []int32{nn.IgnoreIndex}, Pos: []int32{int32(p)}}
		var err error
		if w, _, err = g.forward(b, false, &kvStep{cache: cache, decode: true, pos: p}); err != nil {
			return nil, fmt.Errorf("forward: decoding position %d: %w", p, err)
		}
		cache.Len++
	}
	lg, err := g.headRow(w, 0)
	if err != nil {
		return nil, fmt.Errorf("forward: %w", err)
	}
	return lg, nil
}

// Generate is model.Model.Generate on the device: the same options,
// sampler (model.Sample), seeding and stopping, with a KV cache on the
// device (Forward): one pass over the prompt, then one decoding step per
// new token.
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
	cache, err := g.NewCache(capacity)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	defer cache.Close()
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
		logits, err := g.Forward(cache, next)
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
		next = []int32{id}
	}
	return out, nil
}
