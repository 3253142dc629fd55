package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// preTokenizer splits a normalized piece into words; first reports whether the piece starts the text.
type preTokenizer interface {
	split(s string, first bool, emit func(w string, first bool))
}

type preSeq []preTokenizer

func (q preSeq) split(s string, first bool, emit func(string, bool)) {
	// Chain the stages once per call, not once per word.
	for i := len(q) - 1; i > 0; i-- {
		stage, next := q[i], emit
		emit = func(w string, f bool) { stage.split(w, f, next) }
	}
	q[0].split(s, first, emit)
}

// behavior is a Split delimiter behavior.
type behavior int

const (
	isolated behavior = iota
	removed
	mergedWithPrevious
	mergedWithNext
	contiguous
)

func parseBehavior(s string) (behavior, error) {
	switch s {
	case "Isolated":
		return isolated, nil
	case "Removed":
		return removed, nil
	case "MergedWithPrevious":
		return mergedWithPrevious, nil
	case "MergedWithNext":
		return mergedWithNext, nil
	case "Contiguous":
		return contiguous, nil
	}
	return 0, fmt.Errorf("unknown behavior %q", s)
}

// splitSpans emits s split at the match spans (sorted, non-overlapping) according to b.
func splitSpans(s string, first bool, spans [][]int, b behavior, emit func(string, bool)) {
	type piece struct {
		lo, hi int
		match  bool
	}
	var ps []piece
	prev := 0
	for _, m := range spans {
		if m[0] > prev {
			ps = append(ps, piece{prev, m[0], false})
		}
		if m[1] > m[0] {
			ps = append(ps, piece{m[0], m[1], true})
		}
		prev = m[1]
	}
	if prev < len(s) {
		ps = append(ps, piece{prev, len(s), false})
	}
	var out []piece
	switch b {
	case isolated:
		out = ps
	case removed:
		for _, p := range ps {
			if !p.match {
				out = append(out, p)
			}
		}
	case mergedWithPrevious:
		for _, p := range ps {
			if p.match && len(out) > 0 && !out[len(out)-1].match {
				out[len(out)-1].hi = p.hi
				out[len(out)-1].match = true
				continue
			}
			out = append(out, p)
		}
	case mergedWithNext:
		for i := 0; i < len(ps); i++ {
			p := ps[i]
			if p.match && i+1 < len(ps) && !ps[i+1].match {
				p.hi = ps[i+1].hi
				i++
			}
			out = append(out, p)
		}
	case contiguous:
		for _, p := range ps {
			if len(out) > 0 && out[len(out)-1].match == p.match && p.match {
				out[len(out)-1].hi = p.hi
				continue
			}
			out = append(out, p)
		}
	}
	for _, p := range out {
		emit(s[p.lo:p.hi], first && p.lo == 0)
	}
}

// preSplit is the Split pre-tokenizer.
type preSplit struct {
	known  splitter
	re     *regexSplitter
	lit    string
	b      behavior
	invert bool
}

func (p *preSplit) split(s string, first bool, emit func(string, bool)) {
	if p.known != nil && p.b == isolated && !p.invert {
		for i := 0; i < len(s); {
			j := p.known(s, i)
			emit(s[i:j], first && i == 0)
			i = j
		}
		return
	}
	var spans [][]int
	switch {
	case p.known != nil:
		for i := 0; i < len(s); {
			j := p.known(s, i)
			spans = append(spans, []int{i, j})
			i = j
		}
	case p.re != nil:
		spans = p.re.matches(s)
	default:
		for i := 0; p.lit != ""; {
			k := strings.Index(s[i:], p.lit)
			if k < 0 {
				break
			}
			spans = append(spans, []int{i + k, i + k + len(p.lit)})
			i += k + len(p.lit)
		}
	}
	if p.invert {
		// Matches become the text between delimiters.
		var inv [][]int
		prev := 0
		for _, m := range spans {
			if m[0] > prev {
				inv = append(inv, []int{prev, m[0]})
			}
			prev = m[1]
		}
		if prev < len(s) {
			inv = append(inv, []int{prev, len(s)})
		}
		spans = inv
	}
	splitSpans(s, first, spans, p.b, emit)
}

// preByteLevel is the ByteLevel pre-tokenizer; the byte-to-unicode mapping itself is folded into the
// model, which works on raw bytes.
type preByteLevel struct {
	addPrefixSpace bool
	useRegex       bool
}

func (p *preByteLevel) split(s string, first bool, emit func(string, bool)) {
	if p.addPrefixSpace && !strings.HasPrefix(s, " ") {
		s = " " + s
	}
	if !p.useRegex {
		emit(s, first)
		return
	}
	for i := 0; i < len(s); {
		j := splitGPT2(s, i)
		emit(s[i:j], first && i == 0)
		i = j
	}
}

// preDigits is the Digits pre-tokenizer.
type preDigits struct{ individual bool }

func (p *preDigits) split(s string, first bool, emit func(string, bool)) {
	start := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsNumber(r) {
			i += n
			continue
		}
		j := i + n
		if !p.individual {
			for j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				if !unicode.IsNumber(r2) {
					break
				}
				j += n2
			}
		}
		if start < i {
			emit(s[start:i], first && start == 0)
		}
		emit(s[i:j], first && i == 0)
		start, i = j, j
	}
	if start < len(s) {
		emit(s[start:], first && start == 0)
	}
}

// preMetaspace is the Metaspace pre-tokenizer.
type preMetaspace struct {
	replacement string
	prepend     string // "always", "first" or "never"
	doSplit     bool
}

func (p *preMetaspace) splitWords(s string, first bool, emit func(string, bool)) {
	s = strings.ReplaceAll(s, " ", p.replacement)
	if !strings.HasPrefix(s, p.replacement) && (p.prepend == "always" || p.prepend == "first" && first) {
		s = p.replacement + s
	}
	if !p.doSplit {
		emit(s, first)
		return
	}
	// MergedWithNext on the replacement character.
	start := 0
	for i := 0; i < len(s); {
		if i > start && strings.HasPrefix(s[i:], p.replacement) {
			emit(s[start:i], first && start == 0)
			start = i
		}
		if strings.HasPrefix(s[i:], p.replacement) {
			i += len(p.replacement)
		} else {
			_, n := utf8.DecodeRuneInString(s[i:])
			i += n
		}
	}
	if start < len(s) {
		emit(s[start:], first && start == 0)
	}
}

func (p *preMetaspace) split(s string, first bool, emit func(string, bool)) {
	p.splitWords(s, first, emit)
}

// preWhitespaceSplit splits on whitespace, dropping it.
type preWhitespaceSplit struct{}

func (preWhitespaceSplit) split(s string, first bool, emit func(string, bool)) {
	off := 0
	for _, w := range strings.FieldsFunc(s, unicode.IsSpace) {
		i := strings.Index(s[off:], w) + off
		emit(w, first && i == 0)
		off = i + len(w)
	}
}

func parsePreTokenizer(raw json.RawMessage, byteLevel *bool) (preTokenizer, error) {
	var t typed
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	switch t.Type {
	case "Sequence":
		var o struct {
			Pre []json.RawMessage `json:"pretokenizers"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		var q preSeq
		for i, r := range o.Pre {
			p, err := parsePreTokenizer(r, byteLevel)
			if err != nil {
				return nil, fmt.Errorf("pretokenizers[%d]: %w", i, err)
			}
			// A ByteLevel stage without regex or prefix space only maps bytes, which the model does
			// itself: it does not split.
			if bl, ok := p.(*preByteLevel); ok && !bl.useRegex && !bl.addPrefixSpace {
				continue
			}
			q = append(q, p)
		}
		if len(q) == 0 {
			return preSeq{preNoop{}}, nil
		}
		if len(q) == 1 {
			return q[0], nil
		}
		return q, nil
	case "ByteLevel":
		o := struct {
			AddPrefixSpace bool  `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}{}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		*byteLevel = true
		return &preByteLevel{addPrefixSpace: o.AddPrefixSpace, useRegex: o.UseRegex == nil || *o.UseRegex}, nil
	case "Split":
		var o struct {
			Pattern  pattern `json:"pattern"`
			Behavior string  `json:"behavior"`
			Invert   bool    `json:"invert"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		b, err := parseBehavior(o.Behavior)
		if err != nil {
			return nil, err
		}
		p := &preSplit{b: b, invert: o.Invert}
		switch {
		case o.Pattern.Regex != nil:
			if p.known = knownSplitter(*o.Pattern.Regex); p.known == nil {
				if p.re, err = newRegexSplitter(*o.Pattern.Regex); err != nil {
					return nil, fmt.Errorf("pattern: %w", err)
				}
			}
		case o.Pattern.String != nil:
			p.lit = *o.Pattern.String
		default:
			return nil, fmt.Errorf("pattern: want String or Regex")
		}
		return p, nil
	case "Digits":
		var o struct {
			Individual bool `json:"individual_digits"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		return &preDigits{individual: o.Individual}, nil
	case "Metaspace":
		o := struct {
			Replacement    string `json:"replacement"`
			PrependScheme  string `json:"prepend_scheme"`
			AddPrefixSpace *bool  `json:"add_prefix_space"`
			Split          *bool  `json:"split"`
		}{}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		if o.Replacement == "" {
			o.Replacement = spaceSymbol
		}
		if o.PrependScheme == "" {
			o.PrependScheme = "always"
			if o.AddPrefixSpace != nil && !*o.AddPrefixSpace {
				o.PrependScheme = "never"
			}
		}
		return &preMetaspace{replacement: o.Replacement, prepend: o.PrependScheme, doSplit: o.Split == nil || *o.Split}, nil
	case "WhitespaceSplit":
		return preWhitespaceSplit{}, nil
	case "Whitespace":
		re, err := newRegexSplitter(`\w+|[^\w\s]+`)
		if err != nil {
			return nil, err
		}
		return &preSplit{re: re, b: removed, invert: true}, nil
	}
	return nil, fmt.Errorf("unsupported type %q", t.Type)
}

// preNoop emits its input unchanged.
type preNoop struct{}

func (preNoop) split(s string, first bool, emit func(string, bool)) { emit(s, first) }
