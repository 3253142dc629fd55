package model

import (
	"fmt"

	"github.com/whetstone/whetstone/internal/engine/nn"
)

// KVCache holds the keys and values of one sequence for incremental decoding.
type KVCache struct {
	K, V [][]float32 // per layer, [Cap, KVHeads·HeadDim]
	Len  int         // rows filled
	Cap  int
}

// NewCache returns an empty cache for up to capacity tokens (at most
// max_position_embeddings).
func (m *Model) NewCache(capacity int) *KVCache {
	capacity = min(capacity, m.Rope.MaxPos)
	kd := m.Cfg.NumKeyValueHeads * m.Cfg.HeadDim
	c := &KVCache{Cap: capacity, K: make([][]float32, len(m.Layers)), V: make([][]float32, len(m.Layers))}
	for i := range c.K {
		c.K[i] = make([]float32, capacity*kd)
		c.V[i] = make([]float32, capacity*kd)
	}
	return c
}

// Forward runs ids through the model after the tokens already in cache,
// appends their keys and values to it, and returns the logits [vocab] of the
// last token, or of every new token ([len(ids), vocab]) when all is set.
// LoRA adapters, if attached, are applied unmerged (no dropout).
func (m *Model) Forward(cache *KVCache, ids []int32, all bool) ([]float32, error) {
	c := &m.Cfg
	n := len(ids)
	if n == 0 {
		return nil, fmt.Errorf("forward: no tokens")
	}
	if cache.Len+n > cache.Cap {
		return nil, fmt.Errorf("forward: %d tokens exceed the cache capacity %d", cache.Len+n, cache.Cap)
	}
	if c.Window > 0 && cache.Len+n > c.Window {
		return nil, fmt.Errorf("forward: %d tokens exceed the sliding window of %d, which is not implemented", cache.Len+n, c.Window)
	}
	for _, id := range ids {
		if id < 0 || int(id) >= c.VocabSize {
			return nil, fmt.Errorf("forward: token id %d outside vocabulary of %d", id, c.VocabSize)
		}
	}
	D, I, nh, nkv, hd := c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim
	qd, kd := nh*hd, nkv*hd
	p0 := cache.Len
	f := func(k int) []float32 { return make([]float32, k) }
	h, xn, q, att, gate, up := f(n*D), f(n*D), f(n*qd), f(n*qd), f(n*I), f(n*I)
	maxR := 0
	for _, p := range m.LoRAParams() {
		maxR = max(maxR, p.Shape[0], p.Shape[1])
	}
	scratch := f(n * max(maxR, 1))
	pos := make([]int32, n)
	for i := range pos {
		pos[i] = int32(p0 + i)
	}
	eps := float32(c.RMSNormEps)
	nn.Embedding(h, m.Embed.Data, ids, D)
	for li := range m.Layers {
		L := &m.Layers[li]
		kc, vc := cache.K[li], cache.V[li]
		knew, vnew := kc[p0*kd:(p0+n)*kd], vc[p0*kd:(p0+n)*kd]
		nn.RMSNorm(xn, nil, h, L.AttnNorm.Data, n, D, eps)
		linearFwd(&L.Q, q, xn, n, nil, false, 0, scratch)
		linearFwd(&L.K, knew, xn, n, nil, false, 0, scratch)
		linearFwd(&L.V, vnew, xn, n, nil, false, 0, scratch)
		if L.QNorm != nil {
			nn.RMSNorm(q, nil, q, L.QNorm.Data, n*nh, hd, eps)
			nn.RMSNorm(knew, nil, knew, L.KNorm.Data, n*nkv, hd, eps)
		}
		m.Rope.Apply(q, pos, n, nh, false)
		m.Rope.Apply(knew, pos, n, nkv, false)
		nn.AttentionCached(att, q, kc, vc, n, p0, nh, nkv, hd)
		linearFwd(&L.O, xn, att, n, nil, false, 0, scratch)
		nn.Add(h, xn)
		nn.RMSNorm(xn, nil, h, L.MLPNorm.Data, n, D, eps)
		linearFwd(&L.Gate, gate, xn, n, nil, false, 0, scratch)
		linearFwd(&L.Up, up, xn, n, nil, false, 0, scratch)
		nn.SwiGLU(gate, gate, up)
		linearFwd(&L.Down, xn, gate, n, nil, false, 0, scratch)
		nn.Add(h, xn)
	}
	cache.Len += n
	rows := h
	if !all {
		rows, n = h[(n-1)*D:], 1
	}
	nn.RMSNorm(xn[:n*D], nil, rows, m.Norm.Data, n, D, eps)
	logits := f(n * c.VocabSize)
	nn.LinearW(logits, xn[:n*D], m.Head.Data, m.HeadBF16, nil, n, D, c.VocabSize)
	return logits, nil
}

// DecodeBatch runs one new token per sequence, ids[i] after the tokens
// already in caches[i], as one batch: every projection is one product over
// all the rows (the point of batching concurrent requests), attention reads
// each sequence's own cache. It appends each token's keys and values to its
// cache and returns the logits [len(ids), vocab]. The result equals calling
// Forward on each sequence alone (up to summation order).
func (m *Model) DecodeBatch(caches []*KVCache, ids []int32) ([]float32, error) {
	c := &m.Cfg
	n := len(ids)
	if n == 0 || len(caches) != n {
		return nil, fmt.Errorf("decode batch: %d ids for %d caches", n, len(caches))
	}
	for i, id := range ids {
		if id < 0 || int(id) >= c.VocabSize {
			return nil, fmt.Errorf("decode batch: token id %d outside vocabulary of %d", id, c.VocabSize)
		}
		if caches[i].Len+1 > caches[i].Cap {
			return nil, fmt.Errorf("decode batch: sequence %d is full (%d tokens)", i, caches[i].Cap)
		}
		if c.Window > 0 && caches[i].Len+1 > c.Window {
			return nil, fmt.Errorf("decode batch: %d tokens exceed the sliding window of %d, which is not implemented", caches[i].Len+1, c.Window)
		}
	}
	D, I, nh, nkv, hd := c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim
	qd, kd := nh*hd, nkv*hd
	f := func(k int) []float32 { return make([]float32, k) }
	h, xn, q, kn, vn, att, gate, up := f(n*D), f(n*D), f(n*qd), f(n*kd), f(n*kd), f(n*qd), f(n*I), f(n*I)
	maxR := 0
	for _, p := range m.LoRAParams() {
		maxR = max(maxR, p.Shape[0], p.Shape[1])
	}
	scratch := f(n * max(maxR, 1))
	pos := make([]int32, n)
	for i := range pos {
		pos[i] = int32(caches[i].Len)
	}
	eps := float32(c.RMSNormEps)
	nn.Embedding(h, m.Embed.Data, ids, D)
	for li := range m.Layers {
		L := &m.Layers[li]
		nn.RMSNorm(xn, nil, h, L.AttnNorm.Data, n, D, eps)
		linearFwd(&L.Q, q, xn, n, nil, false, 0, scratch)
		linearFwd(&L.K, kn, xn, n, nil, false, 0, scratch)
		linearFwd(&L.V, vn, xn, n, nil, false, 0, scratch)
		if L.QNorm != nil {
			nn.RMSNorm(q, nil, q, L.QNorm.Data, n*nh, hd, eps)
			nn.RMSNorm(kn, nil, kn, L.KNorm.Data, n*nkv, hd, eps)
		}
		m.Rope.Apply(q, pos, n, nh, false)
		m.Rope.Apply(kn, pos, n, nkv, false)
		for i, cache := range caches {
			p0 := cache.Len
			copy(cache.K[li][p0*kd:(p0+1)*kd], kn[i*kd:(i+1)*kd])
			copy(cache.V[li][p0*kd:(p0+1)*kd], vn[i*kd:(i+1)*kd])
			nn.AttentionCached(att[i*qd:(i+1)*qd], q[i*qd:(i+1)*qd], cache.K[li], cache.V[li], 1, p0, nh, nkv, hd)
		}
		linearFwd(&L.O, xn, att, n, nil, false, 0, scratch)
		nn.Add(h, xn)
		nn.RMSNorm(xn, nil, h, L.MLPNorm.Data, n, D, eps)
		linearFwd(&L.Gate, gate, xn, n, nil, false, 0, scratch)
		linearFwd(&L.Up, up, xn, n, nil, false, 0, scratch)
		nn.SwiGLU(gate, gate, up)
		linearFwd(&L.Down, xn, gate, n, nil, false, 0, scratch)
		nn.Add(h, xn)
	}
	for _, cache := range caches {
		cache.Len++
	}
	nn.RMSNorm(xn, nil, h, m.Norm.Data, n, D, eps)
	logits := f(n * c.VocabSize)
	nn.LinearW(logits, xn, m.Head.Data, m.HeadBF16, nil, n, D, c.VocabSize)
	return logits, nil
}
