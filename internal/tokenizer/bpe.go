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
	unk          int
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	cache        wordCache
}

type jsonBPE struct {
	Type            string            `json:"type"`
	Vocab           map[string]int    `json:"vocab"`
	Merges          []json.RawMessage `json:"merges"`
	UnkToken        *string           `json:"unk_token"`
	FuseUnk         bool              `json:"fuse_unk"`
	ByteFallback    bool              `json:"byte_fallback"`
	IgnoreMerges    bool              `json:"ignore_merges"`
	ContinuingPref  *string           `json:"continuing_subword_prefix"`
	EndOfWordSuffix *string           `json:"end_of_word_suffix"`
}

func parseBPE(raw json.RawMessage, byteLevel bool) (*bpeModel, error) {
	var j jsonBPE
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, err
	}
	if j.Type != "BPE" && j.Type != "" {
		return nil, fmt.Errorf("type %q is not supported (only BPE)", j.Type)
	}
	if len(j.Vocab) == 0 {
		return nil, errors.New("vocab: empty")
	}
	if j.ContinuingPref != nil && *j.ContinuingPref != "" || j.EndOfWordSuffix != nil && *j.EndOfWordSuffix != "" {
		return nil, errors.New("continuing_subword_prefix and end_of_word_suffix are not supported")
	}
	m := &bpeModel{byteLevel: byteLevel, textVocab: j.Vocab, vocab: make(map[string]int, len(j.Vocab)),
		unk: -1, fuseUnk: j.FuseUnk, byteFallback: j.ByteFallback, ignoreMerges: j.IgnoreMerges}
	n := 0
	for tok, id := range j.Vocab {
		if id < 0 || id > 1<<24 {
			return nil, fmt.Errorf("vocab[%q]: id %d out of range", tok, id)
		}
		n = max(n, id+1)
	}
	m.idToToken = make([]string, n)
	for i := range m.byteID {
		m.byteID[i] = -1
	}
	for tok, id := range j.Vocab {
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
		id, ok := j.Vocab[*j.UnkToken]
		if !ok {
			return nil, fmt.Errorf("unk_token %q: not in vocab", *j.UnkToken)
		}
		m.unk = id
	}
	m.merges = make(map[uint64]uint64, len(j.Merges))
	for i, r := range j.Merges {
		var a, b string
		var s string
		if err := json.Unmarshal(r, &s); err == nil {
			parts := strings.Split(s, " ")
			if len(parts) != 2 {
				return nil, fmt.Errorf("merges[%d]: %q is not two tokens", i, s)
			}
			a, b = parts[0], parts[1]
		} else {
			var pair []string
			if err := json.Unmarshal(r, &pair); err != nil || len(pair) != 2 {
				return nil, fmt.Errorf("merges[%d]: want \"a b\" or [a, b]", i)
			}
			a, b = pair[0], pair[1]
		}
		ia, ok1 := j.Vocab[a]
		ib, ok2 := j.Vocab[b]
		inew, ok3 := j.Vocab[a+b]
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
