// Package quality measures text-quality signals: length, repeated word
// n-grams, non-printable characters and mojibake (UTF-8 decoded as Latin-1
// or Windows-1252, and U+FFFD replacement characters).
package quality

import (
	"unicode/utf8"

	"github.com/whetstone/whetstone/internal/data/words"
)

// NonPrintable returns the number of control characters in s other than
// tab, newline and carriage return (C0, DEL and C1 controls), and the byte
// offset of the first, or -1.
func NonPrintable(s string) (n, first int) {
	first = -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r', c == 0x7f:
		case c == 0xC2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f: // U+0080..U+009F
		default:
			continue
		}
		if first < 0 {
			first = i
		}
		n++
	}
	return n, first
}

// cp1252 holds the characters Windows-1252 puts at 0x80-0x9F, which appear
// as the second character of mojibake ("â€™" for "’").
var cp1252 = map[rune]bool{'€': true, '‚': true, 'ƒ': true, '„': true, '…': true, '†': true, '‡': true, 'ˆ': true,
	'‰': true, 'Š': true, '‹': true, 'Œ': true, 'Ž': true, '‘': true, '’': true, '“': true, '”': true, '•': true,
	'–': true, '—': true, '˜': true, '™': true, 'š': true, '›': true, 'œ': true, 'ž': true, 'Ÿ': true}

// Mojibake returns the number of mojibake sequences in s and the byte
// offset of the first, or -1: a lead character of a 2-4 byte UTF-8 sequence
// read as Latin-1 (Ã, Â, â, Ð, Ñ, ...: U+00C2-U+00F4) followed by a
// continuation byte read as Latin-1 (U+0080-U+00BF) or Windows-1252, and
// U+FFFD replacement characters.
func Mojibake(s string) (n, first int) {
	first = -1
	// Fast path: mojibake needs a byte >= 0xC2.
	hasHigh := false
	for i := 0; i < len(s); i++ {
		if s[i] >= 0xC2 {
			hasHigh = true
			break
		}
	}
	if !hasHigh {
		return 0, -1
	}
	prev := rune(-1)
	for i, r := range s {
		bad := r == utf8.RuneError
		if !bad && prev >= 0xC2 && prev <= 0xF4 && prev != 0xD7 && prev != 0xF7 {
			bad = (r >= 0x80 && r <= 0xBF) || cp1252[r]
			// "Â " (U+00C2 then a no-break space) is the classic case
			// but a no-break space after other letters is common text.
			if r == 0xA0 && prev != 0xC2 {
				bad = false
			}
		}
		if bad {
			if first < 0 {
				first = i
			}
			n++
		}
		prev = r
	}
	return n, first
}

// Repetition returns the fraction of word n-grams of s that repeat an
// earlier n-gram of s (0 when s has fewer than minWords words). Words are
// runs of letters, digits and non-ASCII bytes, compared case-insensitively.
func Repetition(s string, n, minWords int) float64 {
	var set NgramSet
	return set.Repetition(s, n, minWords)
}

// NgramSet is scratch space for Repetition; reusing one across calls
// avoids allocations. The zero value is ready to use.
type NgramSet struct{ ngramSet }

// Repetition is Repetition using set's memory.
func (set *NgramSet) Repetition(s string, n, minWords int) float64 {
	var buf [256]uint64
	return set.RepetitionWords(words.Hashes(s, buf[:0]), n, minWords)
}

// RepetitionWords is Repetition over the word hashes of package words.
func (set *NgramSet) RepetitionWords(ws []uint64, n, minWords int) float64 {
	n = min(max(n, 1), 16)
	if len(ws) < minWords || len(ws) < n {
		return 0
	}
	set.reset(len(ws))
	grams, repeats := 0, 0
	for end := n; end <= len(ws); end++ {
		h := uint64(0x9e3779b97f4a7c15)
		for _, w := range ws[end-n : end] {
			h = (h ^ w) * 0xff51afd7ed558ccd
			h ^= h >> 32
		}
		grams++
		if !set.add(h) {
			repeats++
		}
	}
	return float64(repeats) / float64(grams)
}

// ngramSet is a small open-addressing hash set, reused across calls.
type ngramSet struct {
	slots []uint64
	n     int
}

// reset empties the set, sized for about n entries.
func (s *ngramSet) reset(n int) {
	size := 64
	for size < 2*n {
		size *= 2
	}
	if cap(s.slots) >= size && cap(s.slots) <= 4*size {
		s.slots = s.slots[:size]
		clear(s.slots)
	} else {
		s.slots = make([]uint64, size)
	}
	s.n = 0
}

// add inserts h and reports whether it was new. Zero is stored as 1.
func (s *ngramSet) add(h uint64) bool {
	if h == 0 {
		h = 1
	}
	if s.n*2 >= len(s.slots) {
		old := s.slots
		s.slots = make([]uint64, max(64, 2*len(old)))
		s.n = 0
		for _, v := range old {
			if v != 0 {
				s.add(v)
			}
		}
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = h
			s.n++
			return true
		case h:
			return false
		}
	}
}

// EstimateTokens estimates the token count of s without a tokenizer: one
// token per 4 bytes, rounded up (a common rule of thumb for English with
// BPE vocabularies of 32k-150k tokens).
func EstimateTokens(s string) int { return (len(s) + 3) / 4 }
