package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"unicode/utf8"
)

// byteToRune is GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to U+0100+n.
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var b2r [256]rune
	r2b := map[rune]byte{}
	n := 0
	for b := range 256 {
		if '!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}()

// unmapBytes turns a byte-level token string back into raw bytes; ok is false if a character is not
// in the byte alphabet.
func unmapBytes(tok string) (string, bool) {
	var sb strings.Builder
	for _, r := range tok {
		b, ok := runeToByte[r]
		if !ok {
			return tok, false
		}
		sb.WriteByte(b)
	}
	return sb.String(), true
}

// bpeModel is Hugging Face's BPE model. In byte-level mode it works on raw bytes: the vocabulary is
// stored with GPT-2's byte-to-unicode mapping undone, which gives the same ids without mapping the input.
type bpeModel struct {
	byteLevel    bool
	idToToken    []string       // token strings as in tokenizer.json
	textVocab    map[string]int // token strings as in tokenizer.json
	vocab        map[string]int // token strings in the model's alphabet (raw bytes in byte-level mode)
	byteID       [256]int32     // byte-level: id of each single byte; else id of <0xXX> (-1 if absent)
	merges       map[uint64]uint64
	mergePairs   [][2]string // in rank order, token strings as in tokenizer.json
	unk          int
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	cache        wordCache
}

type jsonBPE struct {
	Type            string          `json:"type"`
	Vocab           json.RawMessage `json:"vocab"`
	Merges          json.RawMessage `json:"merges"`
	UnkToken        *string         `json:"unk_token"`
	FuseUnk         bool            `json:"fuse_unk"`
	ByteFallback    bool            `json:"byte_fallback"`
	IgnoreMerges    bool            `json:"ignore_merges"`
	ContinuingPref  *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix *string         `json:"end_of_word_suffix"`
}

func parseBPE(raw json.RawMessage, byteLevel bool) (*bpeModel, error) {
	var j jsonBPE
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, err
	}
	if j.Type != "BPE" && j.Type != "" {
		return nil, fmt.Errorf("type %q is not supported (only BPE)", j.Type)
	}
	var vocab map[string]int
	if err := json.Unmarshal(j.Vocab, &vocab); err != nil {
		return nil, fmt.Errorf("vocab: %w", err)
	}
	if len(vocab) == 0 {
		return nil, errors.New("vocab: empty")
	}
	// Merges are "a b" strings (older files) or [a, b] pairs.
	var pairs [][2]string
	if len(j.Merges) > 0 && !isNull(j.Merges) {
		var strs []string
		if err := json.Unmarshal(j.Merges, &strs); err == nil {
			pairs = make([][2]string, len(strs))
			for i, s := range strs {
				a, b, ok := strings.Cut(s, " ")
				if !ok || strings.Contains(b, " ") {
					return nil, fmt.Errorf("merges[%d]: %q is not two tokens", i, s)
				}
				pairs[i] = [2]string{a, b}
			}
		} else {
			var lists [][]string
			if err := json.Unmarshal(j.Merges, &lists); err != nil {
				return nil, errors.New("merges: want [\"a b\", ...] or [[a, b], ...]")
			}
			pairs = make([][2]string, len(lists))
			for i, l := range lists {
				if len(l) != 2 {
					return nil, fmt.Errorf("merges[%d]: want two tokens, got %d", i, len(l))
				}
				pairs[i] = [2]string{l[0], l[1]}
			}
		}
	}
	if j.ContinuingPref != nil && *j.ContinuingPref != "" || j.EndOfWordSuffix != nil && *j.EndOfWordSuffix != "" {
		return nil, errors.New("continuing_subword_prefix and end_of_word_suffix are not supported")
	}
	m := &bpeModel{byteLevel: byteLevel, textVocab: vocab, vocab: make(map[string]int, len(vocab)),
		unk: -1, fuseUnk: j.FuseUnk, byteFallback: j.ByteFallback, ignoreMerges: j.IgnoreMerges}
	n := 0
	for tok, id := range vocab {
		if id < 0 || id > 1<<22 {
			return nil, fmt.Errorf("vocab[%q]: id %d out of range", tok, id)
		}
		n = max(n, id+1)
	}
	m.idToToken = make([]string, n)
	for i := range m.byteID {
		m.byteID[i] = -1
	}
	for tok, id := range vocab {
		m.idToToken[id] = tok
		key := tok
		if byteLevel {
			key, _ = unmapBytes(tok)
			if len(key) == 1 {
				m.byteID[key[0]] = int32(id)
			}
		} else if len(tok) == 6 && strings.HasPrefix(tok, "<0x") && tok[5] == '>' {
			var b int
			if _, err := fmt.Sscanf(tok, "<0x%02X>", &b); err == nil && b >= 0 && b < 256 {
				m.byteID[b] = int32(id)
			}
		}
		m.vocab[key] = id
	}
	if j.UnkToken != nil {
		id, ok := vocab[*j.UnkToken]
		if !ok {
			return nil, fmt.Errorf("unk_token %q: not in vocab", *j.UnkToken)
		}
		m.unk = id
	}
	m.merges = make(map[uint64]uint64, len(pairs))
	m.mergePairs = pairs
	for i, p := range pairs {
		a, b := p[0], p[1]
		ia, ok1 := vocab[a]
		ib, ok2 := vocab[b]
		inew, ok3 := vocab[a+b]
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("merges[%d]: %q + %q: token not in vocab", i, a, b)
		}
		m.merges[uint64(ia)<<32|uint64(ib)] = uint64(i)<<32 | uint64(inew)
	}
	m.cache.init()
	return m, nil
}

const noRank = ^uint32(0)

// encodeWord appends the ids of one pre-tokenized word.
func (m *bpeModel) encodeWord(dst []int, w string) []int {
	if w == "" {
		return dst
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[w]; ok {
			return append(dst, id)
		}
	}
	cacheable := len(w) <= maxCachedWord
	if cacheable {
		if ids, ok := m.cache.get(w); ok {
			return append(dst, ids...)
		}
	}
	var buf [64]int32
	syms := buf[:0]
	if m.byteLevel {
		for i := 0; i < len(w); i++ {
			id := m.byteID[w[i]]
			if id < 0 {
				if m.unk < 0 {
					continue
				}
				id = int32(m.unk)
			}
			syms = append(syms, id)
		}
	} else {
		prevUnk := false
		for i := 0; i < len(w); {
			_, n := utf8.DecodeRuneInString(w[i:])
			if id, ok := m.vocab[w[i:i+n]]; ok {
				syms = append(syms, int32(id))
				prevUnk = false
			} else if m.byteFallback && m.allBytes(w[i:i+n]) {
				for k := i; k < i+n; k++ {
					syms = append(syms, m.byteID[w[k]])
				}
				prevUnk = false
			} else if m.unk >= 0 {
				if !(m.fuseUnk && prevUnk) {
					syms = append(syms, int32(m.unk))
				}
				prevUnk = true
			}
			i += n
		}
	}
	syms = m.merge(syms)
	start := len(dst)
	for _, id := range syms {
		dst = append(dst, int(id))
	}
	if cacheable {
		m.cache.put(w, dst[start:])
	}
	return dst
}

func (m *bpeModel) allBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if m.byteID[s[i]] < 0 {
			return false
		}
	}
	return true
}

// merge applies merges lowest rank first, leftmost first among equal ranks (the order of Hugging Face's
// priority queue), keeping the rank of each adjacent pair so each step costs one scan and two lookups.
func (m *bpeModel) merge(syms []int32) []int32 {
	if len(syms) < 2 {
		return syms
	}
	if len(syms) > 256 {
		return m.mergeHeap(syms)
	}
	var rbuf [64]uint32
	var nbuf [64]int32
	ranks, news := rbuf[:0], nbuf[:0]
	for i := 0; i+1 < len(syms); i++ {
		r, id := m.pair(syms[i], syms[i+1])
		ranks = append(ranks, r)
		news = append(news, id)
	}
	for {
		best, bi := noRank, -1
		for i, r := range ranks {
			if r < best {
				best, bi = r, i
			}
		}
		if bi < 0 {
			return syms
		}
		syms[bi] = news[bi]
		syms = append(syms[:bi+1], syms[bi+2:]...)
		ranks = append(ranks[:bi], ranks[bi+1:]...)
		news = append(news[:bi], news[bi+1:]...)
		if bi > 0 {
			ranks[bi-1], news[bi-1] = m.pair(syms[bi-1], syms[bi])
		}
		if bi < len(ranks) {
			ranks[bi], news[bi] = m.pair(syms[bi], syms[bi+1])
		}
	}
}

// mergeHeap is merge for long words: a priority queue of candidate pairs ordered by (rank, position)
// over a linked list of symbols, O(n log n) like Hugging Face's word.merge_all.
func (m *bpeModel) mergeHeap(syms []int32) []int32 {
	n := len(syms)
	next := make([]int32, n)
	prev := make([]int32, n)
	alive := make([]bool, n)
	for i := range n {
		next[i], prev[i], alive[i] = int32(i+1), int32(i-1), true
	}
	next[n-1] = -1
	h := make(mergeHeap, 0, n)
	for i := 0; i+1 < n; i++ {
		if r, id := m.pair(syms[i], syms[i+1]); r != noRank {
			h = append(h, mergeCand{rank: r, pos: int32(i), id: id})
		}
	}
	h.init()
	for len(h) > 0 {
		c := h.pop()
		p := c.pos
		if !alive[p] || next[p] < 0 {
			continue
		}
		q := next[p]
		if r, id := m.pair(syms[p], syms[q]); r != c.rank || id != c.id {
			continue
		}
		syms[p] = c.id
		alive[q] = false
		next[p] = next[q]
		if next[q] >= 0 {
			prev[next[q]] = p
		}
		if pp := prev[p]; pp >= 0 {
			if r, id := m.pair(syms[pp], syms[p]); r != noRank {
				h.push(mergeCand{rank: r, pos: pp, id: id})
			}
		}
		if nn := next[p]; nn >= 0 {
			if r, id := m.pair(syms[p], syms[nn]); r != noRank {
				h.push(mergeCand{rank: r, pos: p, id: id})
			}
		}
	}
	out := syms[:0]
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

type mergeCand struct {
	rank uint32
	pos  int32
	id   int32
}

// mergeHeap is a binary min-heap of candidates by (rank, pos).
type mergeHeap []mergeCand

func (h mergeHeap) less(i, j int) bool {
	return h[i].rank < h[j].rank || h[i].rank == h[j].rank && h[i].pos < h[j].pos
}

func (h mergeHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *mergeHeap) push(c mergeCand) {
	*h = append(*h, c)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *mergeHeap) pop() mergeCand {
	s := *h
	c := s[0]
	s[0] = s[len(s)-1]
	*h = s[:len(s)-1]
	h.down(0)
	return c
}

func (h mergeHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func (m *bpeModel) pair(a, b int32) (uint32, int32) {
	v, ok := m.merges[uint64(a)<<32|uint64(uint32(b))]
	if !ok {
		return noRank, -1
	}
	return uint32(v >> 32), int32(uint32(v))
}

// wordCache maps words to ids, sharded to keep lock contention low under EncodeBatch.
const (
	maxCachedWord = 64
	cacheShards   = 64
	maxShardWords = 8192
)

type wordCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string][]int
}

func (c *wordCache) init() {
	c.seed = maphash.MakeSeed()
	for i := range c.shards {
		c.shards[i].m = map[string][]int{}
	}
}

func (c *wordCache) shard(w string) *cacheShard {
	return &c.shards[maphash.String(c.seed, w)%cacheShards]
}

func (c *wordCache) get(w string) ([]int, bool) {
	s := c.shard(w)
	s.mu.RLock()
	ids, ok := s.m[w]
	s.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int) {
	s := c.shard(w)
	s.mu.Lock()
	if len(s.m) >= maxShardWords {
		clear(s.m)
	}
	s.m[strings.Clone(w)] = append([]int(nil), ids...)
	s.mu.Unlock()
}
