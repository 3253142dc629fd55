package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedMatcher finds added tokens in text, leftmost-longest, with the single_word, lstrip and rstrip rules
// of Hugging Face's AddedVocabulary.
type addedMatcher struct {
	byFirst [256][]int // indexes into toks, longest first
	toks    []addedToken
}

func newAddedMatcher(toks []addedToken) *addedMatcher {
	m := &addedMatcher{toks: toks}
	for i, t := range toks {
		if t.Content == "" {
			continue
		}
		c := t.Content[0]
		m.byFirst[c] = append(m.byFirst[c], i)
	}
	for c := range m.byFirst {
		l := m.byFirst[c]
		for i := 1; i < len(l); i++ {
			for j := i; j > 0 && len(toks[l[j]].Content) > len(toks[l[j-1]].Content); j-- {
				l[j], l[j-1] = l[j-1], l[j]
			}
		}
	}
	return m
}

func isWordChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Mn, r)
}

// split calls fn for each piece of s in order: text pieces with id -1, added tokens with their id. off is
// the byte offset of the piece in s. Empty text pieces are skipped.
func (m *addedMatcher) split(s string, fn func(piece string, off int, id int)) {
	if m == nil || len(m.toks) == 0 {
		if s != "" {
			fn(s, 0, -1)
		}
		return
	}
	start := 0 // end of the previous match (with rstrip)
	for i := 0; i < len(s); i++ {
		cands := m.byFirst[s[i]]
		if len(cands) == 0 {
			continue
		}
		for _, ci := range cands {
			t := &m.toks[ci]
			if !strings.HasPrefix(s[i:], t.Content) {
				continue
			}
			mstart, mstop := i, i+len(t.Content)
			if t.SingleWord {
				before, _ := utf8.DecodeLastRuneInString(s[:mstart])
				after, _ := utf8.DecodeRuneInString(s[mstop:])
				if mstart > 0 && isWordChar(before) || mstop < len(s) && isWordChar(after) {
					continue
				}
			}
			if t.LStrip {
				ns := len(strings.TrimRightFunc(s[:mstart], unicode.IsSpace))
				mstart = max(ns, start)
			}
			if t.RStrip {
				mstop = len(s) - len(strings.TrimLeftFunc(s[mstop:], unicode.IsSpace))
			}
			if start < mstart {
				fn(s[start:mstart], start, -1)
			}
			fn(s[mstart:mstop], mstart, t.ID)
			start = mstop
			i = mstop - 1
			break
		}
	}
	if start < len(s) {
		fn(s[start:], start, -1)
	}
}
