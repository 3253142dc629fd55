package tokenizer

import (
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// Known pre-tokenizer patterns with hand-written splitters. Go's regexp has no lookahead for (?!\S);
// these splitters implement each alternative's leftmost-first, greedy-with-backtracking semantics directly
// and are checked against regexp2 in tests.
const (
	gpt2Pattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// splitter finds the end of the match that starts at byte i of s (i < len(s)); every known pattern
// matches at every position, so the text is covered by consecutive matches.
type splitter func(s string, i int) int

// knownSplitter returns a hand-written splitter for pattern, or nil.
func knownSplitter(pattern string) splitter {
	switch pattern {
	case gpt2Pattern:
		return splitGPT2
	case llama3Pattern:
		return func(s string, i int) int { return splitLlama3(s, i, 3) }
	case qwen2Pattern:
		return func(s string, i int) int { return splitLlama3(s, i, 1) }
	}
	return nil
}

// Character classes.
const (
	clsOther = iota // [^\s\p{L}\p{N}]
	clsLetter
	clsNumber
	clsSpace
)

var asciiClass = func() (t [128]uint8) {
	for c := range 128 {
		r := rune(c)
		switch {
		case unicode.IsLetter(r):
			t[c] = clsLetter
		case unicode.IsNumber(r):
			t[c] = clsNumber
		case unicode.IsSpace(r):
			t[c] = clsSpace
		default:
			t[c] = clsOther
		}
	}
	return t
}()

// classAt returns the class of the rune at s[i] and its byte length.
func classAt(s string, i int) (uint8, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	switch {
	case unicode.IsLetter(r):
		return clsLetter, n
	case unicode.IsNumber(r):
		return clsNumber, n
	case unicode.IsSpace(r):
		return clsSpace, n
	}
	return clsOther, n
}

// runEnd returns the end of the run of class cls starting at i.
func runEnd(s string, i int, cls uint8) int {
	for i < len(s) {
		c, n := classAt(s, i)
		if c != cls {
			break
		}
		i += n
	}
	return i
}

// contraction returns the end of 's|'t|'re|'ve|'m|'ll|'d at i, or -1.
func contraction(s string, i int, fold bool) int {
	if s[i] != '\'' || i+1 >= len(s) {
		return -1
	}
	lower := func(c byte) byte {
		if fold && 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	switch lower(s[i+1]) {
	case 's', 't', 'm', 'd':
		return i + 2
	case 'r', 'v':
		if i+2 < len(s) && lower(s[i+2]) == 'e' {
			return i + 3
		}
	case 'l':
		if i+2 < len(s) && lower(s[i+2]) == 'l' {
			return i + 3
		}
	}
	return -1
}

// spaceRun implements `\s+(?!\S)|\s+` at i, where s[i] is whitespace.
func spaceRun(s string, i int) int {
	j := runEnd(s, i, clsSpace)
	if j == len(s) {
		return j
	}
	// Followed by non-space: give back the last whitespace character if the run has two or more.
	_, lastLen := utf8.DecodeLastRuneInString(s[:j])
	if j-lastLen > i {
		return j - lastLen
	}
	return j
}

func splitGPT2(s string, i int) int {
	if e := contraction(s, i, false); e > 0 {
		return e
	}
	c, n := classAt(s, i)
	if c == clsSpace && s[i] == ' ' && i+1 < len(s) {
		if c2, _ := classAt(s, i+1); c2 != clsSpace {
			return runEnd(s, i+1, c2)
		}
	}
	if c == clsSpace {
		return spaceRun(s, i)
	}
	return runEnd(s, i+n, c)
}

func splitLlama3(s string, i int, maxDigits int) int {
	if e := contraction(s, i, true); e > 0 {
		return e
	}
	c, n := classAt(s, i)
	switch c {
	case clsLetter:
		return runEnd(s, i+n, clsLetter)
	case clsNumber:
		j := i + n
		for k := 1; k < maxDigits && j < len(s); k++ {
			c2, n2 := classAt(s, j)
			if c2 != clsNumber {
				break
			}
			j += n2
		}
		return j
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if s[i] != '\r' && s[i] != '\n' && i+n < len(s) {
		if c2, _ := classAt(s, i+n); c2 == clsLetter {
			return runEnd(s, i+n, clsLetter)
		}
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	start := -1
	if c == clsOther {
		start = i
	} else if s[i] == ' ' && i+1 < len(s) {
		if c2, _ := classAt(s, i+1); c2 == clsOther {
			start = i + 1
		}
	}
	if start >= 0 {
		j := runEnd(s, start, clsOther)
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j
	}
	// c is whitespace. `\s*[\r\n]+`: up to the last \r or \n of the run.
	j := runEnd(s, i, clsSpace)
	for k := j - 1; k >= i; k-- {
		if s[k] == '\r' || s[k] == '\n' {
			return k + 1
		}
	}
	return spaceRun(s, i)
}

// regexSplitter splits with regexp2 for patterns without a hand-written splitter.
type regexSplitter struct {
	re *regexp2.Regexp
}

func newRegexSplitter(pattern string) (*regexSplitter, error) {
	re, err := regexp2.Compile(pattern, regexp2.Unicode)
	if err != nil {
		return nil, err
	}
	return &regexSplitter{re: re}, nil
}

// matches returns the byte spans of all matches in s.
func (r *regexSplitter) matches(s string) [][]int {
	m, err := r.re.FindAllStringIndex(s, -1)
	if err != nil {
		return nil
	}
	return m
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }
