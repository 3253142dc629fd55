package tokenizer

import (
	"container/heap"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/whetstone/whetstone/internal/tokenizer/sentencepiece"
)

// spmModel encodes like the SentencePiece C++ library (sentencepiece_processor.cc, bpe_model.cc,
// unigram_model.cc): normalize, then BPE by piece score or Unigram Viterbi, then byte fallback.
type spmModel struct {
	m          *sentencepiece.Model
	pieces     map[string]int // NORMAL, USER_DEFINED and UNUSED pieces (mergeable / matchable)
	reserved   map[string]int // CONTROL, UNKNOWN and BYTE pieces
	byteIDs    [256]int
	userPrefix []string // user-defined symbols, longest first
	charsmap   *charsmap
	minScore   float32
	maxScore   float32
	trie       map[string]struct{} // all prefixes of normal pieces (unigram lattice)
	maxPieceLn int
	// chunked: no piece has U+2581 after another character, so BPE never merges across the start of a
	// "▁word" chunk and chunks can be encoded (and cached) one by one.
	chunked bool
	cache   wordCache
}

func newSPM(m *sentencepiece.Model) (*spmModel, error) {
	s := &spmModel{m: m, pieces: map[string]int{}, reserved: map[string]int{}}
	for i := range s.byteIDs {
		s.byteIDs[i] = -1
	}
	s.minScore, s.maxScore = float32(math.MaxFloat32), float32(-math.MaxFloat32)
	for id, p := range m.Pieces {
		switch p.Type {
		case sentencepiece.Normal, sentencepiece.UserDefined, sentencepiece.Unused:
			if _, dup := s.pieces[p.Piece]; !dup {
				s.pieces[p.Piece] = id
			}
			if p.Type == sentencepiece.UserDefined {
				s.userPrefix = append(s.userPrefix, p.Piece)
			}
			if p.Type == sentencepiece.Normal {
				s.minScore = min(s.minScore, p.Score)
				s.maxScore = max(s.maxScore, p.Score)
			}
		default:
			if p.Type == sentencepiece.Byte {
				var b int
				if _, err := fmt.Sscanf(p.Piece, "<0x%02X>", &b); err != nil || b < 0 || b > 255 {
					return nil, fmt.Errorf("piece %d: byte piece %q is not <0xXX>", id, p.Piece)
				}
				s.byteIDs[b] = id
			}
			if _, dup := s.reserved[p.Piece]; !dup {
				s.reserved[p.Piece] = id
			}
		}
	}
	s.chunked = !m.Trainer.TreatWhitespaceAsSuffix
	for p := range s.pieces {
		if i := strings.Index(p, spaceSymbol); i >= 0 && strings.TrimLeft(p, spaceSymbol) != "" && strings.Contains(strings.TrimLeft(p, spaceSymbol), spaceSymbol) {
			s.chunked = false
		}
	}
	s.cache.init()
	// Longest user-defined symbols first so prefix matching takes the longest.
	sortByLenDesc(s.userPrefix)
	if len(m.Normalizer.PrecompiledCharsmap) > 0 {
		cm, err := parseCharsmap(m.Normalizer.PrecompiledCharsmap)
		if err != nil {
			return nil, fmt.Errorf("normalizer_spec.precompiled_charsmap: %w", err)
		}
		s.charsmap = cm
	}
	if m.Trainer.ModelType == sentencepiece.Unigram {
		s.trie = map[string]struct{}{}
		for p, id := range s.pieces {
			if m.Pieces[id].Type == sentencepiece.Unused {
				continue
			}
			s.maxPieceLn = max(s.maxPieceLn, len(p))
			for i := 1; i <= len(p); i++ {
				s.trie[p[:i]] = struct{}{}
			}
		}
	} else if m.Trainer.ModelType != sentencepiece.BPE {
		return nil, fmt.Errorf("model type %s is not supported (only bpe and unigram)", m.Trainer.ModelType)
	}
	return s, nil
}

func sortByLenDesc(ss []string) {
	for i := 1; i < len(ss); i++ {
		for j := i; j > 0 && len(ss[j]) > len(ss[j-1]); j-- {
			ss[j], ss[j-1] = ss[j-1], ss[j]
		}
	}
}

const spaceSymbol = "\u2581"

// normalize applies the SentencePiece normalizer (normalizer.cc Normalize).
func (s *spmModel) normalize(text string) string {
	ns := &s.m.Normalizer
	suffix := s.m.Trainer.TreatWhitespaceAsSuffix
	// prefix returns the normalized form of the next unit of input and how many bytes it consumed.
	prefix := func(in string) (string, int) {
		for _, u := range s.userPrefix {
			if strings.HasPrefix(in, u) {
				return u, len(u)
			}
		}
		if s.charsmap != nil {
			if out, n, ok := s.charsmap.lookup(in); ok {
				return out, n
			}
		}
		r, n := utf8.DecodeRuneInString(in)
		if r == utf8.RuneError && n <= 1 {
			return "\uFFFD", max(n, 1)
		}
		return in[:n], n
	}
	in := text
	if ns.RemoveExtraWhitespaces {
		for len(in) > 0 {
			p, n := prefix(in)
			if strings.TrimLeft(p, " ") != "" {
				break
			}
			in = in[n:]
		}
	}
	if in == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(in) + 8)
	ws := " "
	if ns.EscapeWhitespaces {
		ws = spaceSymbol
	}
	if !suffix && ns.AddDummyPrefix {
		b.WriteString(ws)
	}
	isPrevSpace := ns.RemoveExtraWhitespaces
	for len(in) > 0 {
		sp, n := prefix(in)
		if isPrevSpace {
			sp = strings.TrimLeft(sp, " ")
		}
		if sp != "" {
			if ns.EscapeWhitespaces {
				b.WriteString(strings.ReplaceAll(sp, " ", spaceSymbol))
			} else {
				b.WriteString(sp)
			}
			isPrevSpace = strings.HasSuffix(sp, " ")
		}
		in = in[n:]
		if !ns.RemoveExtraWhitespaces {
			isPrevSpace = false
		}
	}
	out := b.String()
	if ns.RemoveExtraWhitespaces {
		for strings.HasSuffix(out, ws) {
			out = out[:len(out)-len(ws)]
		}
	}
	if suffix && ns.AddDummyPrefix {
		out += ws
	}
	return out
}

// encode returns the ids of text, without BOS/EOS.
func (s *spmModel) encode(dst []int, text string) []int {
	from := len(dst)
	dst = s.encodePieces(dst, text)
	if !s.m.Trainer.ByteFallback {
		// SentencePieceProcessor merges runs of unknown pieces into one.
		unk := s.m.Trainer.UnkID
		out := dst[:from]
		for i := from; i < len(dst); i++ {
			if dst[i] == unk && len(out) > from && out[len(out)-1] == unk {
				continue
			}
			out = append(out, dst[i])
		}
		dst = out
	}
	return dst
}

func (s *spmModel) encodePieces(dst []int, text string) []int {
	norm := s.normalize(text)
	if norm == "" {
		return dst
	}
	if s.m.Trainer.ModelType != sentencepiece.BPE || !s.chunked || len(s.userPrefix) > 0 {
		var pieces []string
		if s.m.Trainer.ModelType == sentencepiece.BPE {
			pieces = s.bpe(norm)
		} else {
			pieces = s.unigram(norm)
		}
		return s.ids(dst, pieces)
	}
	// Chunks: a run of "▁" followed by other characters.
	for start := 0; start < len(norm); {
		i := start
		for strings.HasPrefix(norm[i:], spaceSymbol) {
			i += len(spaceSymbol)
		}
		j := strings.Index(norm[i:], spaceSymbol)
		if j < 0 {
			j = len(norm)
		} else {
			j += i
		}
		chunk := norm[start:j]
		if len(chunk) <= maxCachedWord {
			if ids, ok := s.cache.get(chunk); ok {
				dst = append(dst, ids...)
				start = j
				continue
			}
		}
		n := len(dst)
		dst = s.ids(dst, s.bpe(chunk))
		if len(chunk) <= maxCachedWord {
			s.cache.put(chunk, dst[n:])
		}
		start = j
	}
	return dst
}

// ids maps pieces to ids, with byte fallback for unknown pieces.
func (s *spmModel) ids(dst []int, pieces []string) []int {
	unk := s.m.Trainer.UnkID
	for _, p := range pieces {
		id, ok := s.reserved[p]
		if !ok {
			id, ok = s.pieces[p]
		}
		if !ok {
			id = unk
		}
		if id == unk && s.m.Trainer.ByteFallback {
			for i := 0; i < len(p); i++ {
				if bid := s.byteIDs[p[i]]; bid >= 0 {
					dst = append(dst, bid)
				} else {
					dst = append(dst, unk)
				}
			}
			continue
		}
		dst = append(dst, id)
	}
	return dst
}

type spmSymbol struct {
	prev, next int
	piece      string
}

type spmPair struct {
	left, right int
	score       float32
	size        int
}

type spmAgenda []spmPair

func (a spmAgenda) Len() int { return len(a) }
func (a spmAgenda) Less(i, j int) bool {
	if a[i].score != a[j].score {
		return a[i].score > a[j].score
	}
	return a[i].left < a[j].left
}
func (a spmAgenda) Swap(i, j int) { a[i], a[j] = a[j], a[i] }
func (a *spmAgenda) Push(x any)   { *a = append(*a, x.(spmPair)) }
func (a *spmAgenda) Pop() any {
	old := *a
	x := old[len(old)-1]
	*a = old[:len(old)-1]
	return x
}

// bpe is bpe_model.cc Model::SampleEncode without sampling.
func (s *spmModel) bpe(norm string) []string {
	var syms []spmSymbol
	for in := norm; len(in) > 0; {
		n := 0
		for _, u := range s.userPrefix {
			if strings.HasPrefix(in, u) {
				n = len(u)
				break
			}
		}
		if n == 0 {
			_, n = utf8.DecodeRuneInString(in)
		}
		syms = append(syms, spmSymbol{prev: len(syms) - 1, next: len(syms) + 1, piece: in[:n]})
		in = in[n:]
	}
	if len(syms) == 0 {
		return nil
	}
	syms[len(syms)-1].next = -1
	var agenda spmAgenda
	revMerge := map[string][2]string{}
	add := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		p := syms[l].piece + syms[r].piece
		id, ok := s.pieces[p]
		if !ok {
			return
		}
		heap.Push(&agenda, spmPair{left: l, right: r, score: s.m.Pieces[id].Score, size: len(p)})
		if s.m.Pieces[id].Type == sentencepiece.Unused {
			revMerge[p] = [2]string{syms[l].piece, syms[r].piece}
		}
	}
	for i := 1; i < len(syms); i++ {
		add(i-1, i)
	}
	for agenda.Len() > 0 {
		top := heap.Pop(&agenda).(spmPair)
		l, r := &syms[top.left], &syms[top.right]
		if l.piece == "" || r.piece == "" || len(l.piece)+len(r.piece) != top.size {
			continue
		}
		l.piece += r.piece
		r.piece = ""
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = top.left
		}
		add(l.prev, top.left)
		add(top.left, l.next)
	}
	var out []string
	var reseg func(p string)
	reseg = func(p string) {
		if id, ok := s.pieces[p]; ok && s.m.Pieces[id].Type == sentencepiece.Unused {
			if m, ok := revMerge[p]; ok {
				reseg(m[0])
				reseg(m[1])
				return
			}
		}
		out = append(out, p)
	}
	for i := 0; i >= 0; i = syms[i].next {
		reseg(syms[i].piece)
	}
	return out
}

// unigram is unigram_model.cc Model::EncodeOptimized: Viterbi over all pieces matching at each position.
func (s *spmModel) unigram(norm string) []string {
	const unkPenalty = 10.0
	// Scores accumulate in float32, as in unigram_model.cc (ties then break the same way).
	unkScore := s.minScore - unkPenalty
	type node struct {
		score float32
		start int
		id    int // -1 for unknown
		set   bool
	}
	best := make([]node, len(norm)+1)
	best[0].set = true
	for start := 0; start < len(norm); start++ {
		if !best[start].set {
			continue
		}
		_, mblen := utf8.DecodeRuneInString(norm[start:])
		hasSingle := false
		for end := start + 1; end <= len(norm) && end-start <= s.maxPieceLn; end++ {
			p := norm[start:end]
			if _, ok := s.trie[p]; !ok {
				break
			}
			id, ok := s.pieces[p]
			if !ok || s.m.Pieces[id].Type == sentencepiece.Unused {
				continue
			}
			if end < len(norm) && !utf8.RuneStart(norm[end]) {
				continue
			}
			// As in unigram_model.cc: the score is a double (the ?: mixes float and double), the sum is
			// computed and compared in double and stored as float; float32 ties then break the same way.
			score := float64(s.m.Pieces[id].Score)
			if s.m.Pieces[id].Type == sentencepiece.UserDefined {
				score = float64(float32(end-start)*s.maxScore) - 0.1
			}
			if end-start == mblen {
				hasSingle = true
			}
			cand := score + float64(best[start].score)
			if !best[end].set || cand > float64(best[end].score) {
				best[end] = node{score: float32(cand), start: start, id: id, set: true}
			}
		}
		if !hasSingle {
			end := start + mblen
			cand := best[start].score + unkScore
			if !best[end].set || cand > best[end].score {
				best[end] = node{score: cand, start: start, id: -1, set: true}
			}
		}
	}
	var rev []string
	var revUnk []bool
	for end := len(norm); end > 0; end = best[end].start {
		rev = append(rev, norm[best[end].start:end])
		revUnk = append(revUnk, best[end].id < 0)
	}
	out := make([]string, 0, len(rev))
	prevUnk := false
	for i := len(rev) - 1; i >= 0; i-- {
		if revUnk[i] && prevUnk {
			out[len(out)-1] += rev[i]
		} else {
			out = append(out, rev[i])
		}
		prevUnk = revUnk[i]
	}
	return out
}

// decodePieces turns ids into text like SentencePieceProcessor::Decode.
func (s *spmModel) decode(ids []int, skipSpecial bool) string {
	var b strings.Builder
	var pending []byte
	flush := func() {
		for len(pending) > 0 {
			r, n := utf8.DecodeRune(pending)
			if r == utf8.RuneError && n <= 1 {
				b.WriteString("\uFFFD")
				n = 1
			} else {
				b.Write(pending[:n])
			}
			pending = pending[n:]
		}
	}
	first := true
	for _, id := range ids {
		if id < 0 || id >= len(s.m.Pieces) {
			continue
		}
		p := s.m.Pieces[id]
		switch p.Type {
		case sentencepiece.Byte:
			var v int
			fmt.Sscanf(p.Piece, "<0x%02X>", &v)
			pending = append(pending, byte(v))
			first = false
			continue
		case sentencepiece.Control:
			flush()
			continue
		}
		flush()
		text := p.Piece
		if p.Type == sentencepiece.Unknown {
			text = s.m.Trainer.UnkSurface
		}
		text = strings.ReplaceAll(text, spaceSymbol, " ")
		if first && s.m.Normalizer.AddDummyPrefix && !s.m.Trainer.TreatWhitespaceAsSuffix {
			text = strings.TrimPrefix(text, " ")
		}
		first = false
		b.WriteString(text)
	}
	flush()
	out := b.String()
	if s.m.Normalizer.AddDummyPrefix && s.m.Trainer.TreatWhitespaceAsSuffix {
		out = strings.TrimSuffix(out, " ")
	}
	return out
}
