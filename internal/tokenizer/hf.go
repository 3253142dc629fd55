package tokenizer

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// addedToken is an entry of tokenizer.json's added_tokens.
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// hfPipeline is a Hugging Face tokenizer.json: added tokens, normalizer, pre-tokenizer, BPE model,
// post-processor and decoder.
type hfPipeline struct {
	tokenToID map[string]int
	idToToken []string
	added     []addedToken
	addedByID map[int]addedToken

	rawAdded  *addedMatcher // added tokens with normalized=false, matched on the raw text
	normAdded *addedMatcher // added tokens with normalized=true, matched after normalization

	normalize func(string) string // nil when absent
	pre       preTokenizer        // nil when absent
	byteLevel bool                // the model works on raw bytes (a ByteLevel pre-tokenizer is present)
	bpe       *bpeModel
	// chunkSpace: no token has "▁" after another character, so a word can be cut before each "▁" that
	// follows another character and the chunks encoded (and cached) separately with the same result.
	chunkSpace bool
	// splitPattern is the regex of the (first) Split pre-tokenizer, or GPT-2's for a ByteLevel with
	// use_regex.
	splitPattern string
	post         []postStep // tokens added by the post-processor (single sequence)
	decoders     []decoder  // nil: tokens joined with spaces
	hasDec       bool
}

type postStep struct {
	seq bool  // the sequence itself
	ids []int // special ids
}

type jsonTokenizer struct {
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	Model         json.RawMessage `json:"model"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
}

func isNull(r json.RawMessage) bool { return len(r) == 0 || string(r) == "null" }

func parseHF(b []byte) (*hfPipeline, error) {
	var j jsonTokenizer
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, err
	}
	if isNull(j.Model) {
		return nil, errors.New("model: missing")
	}
	p := &hfPipeline{added: j.AddedTokens}
	var err error
	if !isNull(j.Normalizer) {
		if p.normalize, err = parseNormalizer(j.Normalizer); err != nil {
			return nil, fmt.Errorf("normalizer: %w", err)
		}
	}
	if !isNull(j.PreTokenizer) {
		if p.pre, err = parsePreTokenizer(j.PreTokenizer, &p.byteLevel); err != nil {
			return nil, fmt.Errorf("pre_tokenizer: %w", err)
		}
	}
	if p.bpe, err = parseBPE(j.Model, p.byteLevel); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	p.splitPattern = findSplitPattern(j.PreTokenizer)
	if !p.byteLevel {
		ms, isMeta := p.pre.(*preMetaspace)
		p.chunkSpace = p.pre == nil || isMeta && !ms.doSplit
		for tok := range p.bpe.textVocab {
			if strings.Contains(strings.TrimLeft(tok, spaceSymbol), spaceSymbol) {
				p.chunkSpace = false
				break
			}
		}
	}
	// Vocabulary: model tokens, then added tokens (which may extend it).
	n := len(p.bpe.idToToken)
	for i, a := range j.AddedTokens {
		if a.ID < 0 || a.ID > 1<<22 {
			return nil, fmt.Errorf("added_tokens[%d]: id %d out of range", i, a.ID)
		}
		if a.Content == "" {
			return nil, fmt.Errorf("added_tokens[%d]: empty content", i)
		}
		n = max(n, a.ID+1)
	}
	p.idToToken = make([]string, n)
	copy(p.idToToken, p.bpe.idToToken)
	// The model's vocabulary map is extended in place with the added tokens.
	p.tokenToID = p.bpe.textVocab
	var raw, normd []addedToken
	p.addedByID = map[int]addedToken{}
	for _, a := range j.AddedTokens {
		p.addedByID[a.ID] = a
		p.idToToken[a.ID] = a.Content
		p.tokenToID[a.Content] = a.ID
		if a.Normalized {
			c := a
			if p.normalize != nil {
				c.Content = p.normalize(a.Content)
			}
			normd = append(normd, c)
		} else {
			raw = append(raw, a)
		}
	}
	p.rawAdded = newAddedMatcher(raw)
	p.normAdded = newAddedMatcher(normd)
	if !isNull(j.PostProcessor) {
		if p.post, err = parsePost(j.PostProcessor, p.tokenToID); err != nil {
			return nil, fmt.Errorf("post_processor: %w", err)
		}
	}
	if !isNull(j.Decoder) {
		p.hasDec = true
		if p.decoders, err = parseDecoder(j.Decoder); err != nil {
			return nil, fmt.Errorf("decoder: %w", err)
		}
	}
	return p, nil
}

type typed struct {
	Type string `json:"type"`
}

type pattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

func parseNormalizer(raw json.RawMessage) (func(string) string, error) {
	var t typed
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	switch t.Type {
	case "NFC":
		return norm.NFC.String, nil
	case "NFD":
		return norm.NFD.String, nil
	case "NFKC":
		return norm.NFKC.String, nil
	case "NFKD":
		return norm.NFKD.String, nil
	case "Lowercase":
		return rustLower, nil
	case "StripAccents":
		return func(s string) string {
			return strings.Map(func(r rune) rune {
				if unicode.Is(unicode.Mn, r) {
					return -1
				}
				return r
			}, s)
		}, nil
	case "Strip":
		var o struct {
			Left  bool `json:"strip_left"`
			Right bool `json:"strip_right"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		return func(s string) string {
			if o.Left {
				s = strings.TrimLeftFunc(s, unicode.IsSpace)
			}
			if o.Right {
				s = strings.TrimRightFunc(s, unicode.IsSpace)
			}
			return s
		}, nil
	case "Prepend":
		var o struct {
			Prepend string `json:"prepend"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		return func(s string) string {
			if s == "" {
				return s
			}
			return o.Prepend + s
		}, nil
	case "Replace":
		var o struct {
			Pattern pattern `json:"pattern"`
			Content string  `json:"content"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		return replacer(o.Pattern, o.Content)
	case "Precompiled":
		var o struct {
			Map string `json:"precompiled_charsmap"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(o.Map)
		if err != nil {
			return nil, fmt.Errorf("precompiled_charsmap: %w", err)
		}
		if len(b) == 0 {
			return func(s string) string { return s }, nil
		}
		cm, err := parseCharsmap(b)
		if err != nil {
			return nil, fmt.Errorf("precompiled_charsmap: %w", err)
		}
		return func(s string) string {
			var sb strings.Builder
			for len(s) > 0 {
				if out, n, ok := cm.lookup(s); ok {
					sb.WriteString(out)
					s = s[n:]
					continue
				}
				_, n := utf8.DecodeRuneInString(s)
				sb.WriteString(s[:n])
				s = s[n:]
			}
			return sb.String()
		}, nil
	case "Sequence":
		var o struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		var fns []func(string) string
		for i, n := range o.Normalizers {
			f, err := parseNormalizer(n)
			if err != nil {
				return nil, fmt.Errorf("normalizers[%d]: %w", i, err)
			}
			fns = append(fns, f)
		}
		return func(s string) string {
			for _, f := range fns {
				s = f(s)
			}
			return s
		}, nil
	}
	return nil, fmt.Errorf("unsupported type %q", t.Type)
}

func replacer(p pattern, content string) (func(string) string, error) {
	switch {
	case p.String != nil:
		old := *p.String
		if old == "" {
			return func(s string) string { return s }, nil
		}
		return func(s string) string { return strings.ReplaceAll(s, old, content) }, nil
	case p.Regex != nil:
		re, err := regexp.Compile(*p.Regex)
		if err != nil {
			return nil, fmt.Errorf("pattern: %w", err)
		}
		return func(s string) string { return re.ReplaceAllLiteralString(s, content) }, nil
	}
	return nil, errors.New("pattern: want String or Regex")
}

// encode runs the whole pipeline on text.
func (p *hfPipeline) encode(text string, addSpecial bool) []int {
	ids := make([]int, 0, len(text)/4+2)
	if addSpecial {
		for _, s := range p.post {
			if s.seq {
				break
			}
			ids = append(ids, s.ids...)
		}
	}
	p.rawAdded.split(text, func(seg string, off int, id int) {
		if id >= 0 {
			ids = append(ids, id)
			return
		}
		if p.normalize != nil {
			seg = p.normalize(seg)
		}
		p.normAdded.split(seg, func(seg2 string, off2 int, id int) {
			if id >= 0 {
				ids = append(ids, id)
				return
			}
			first := off == 0 && off2 == 0
			if p.pre == nil {
				ids = p.encodeWord(ids, seg2)
				return
			}
			p.pre.split(seg2, first, func(w string, _ bool) {
				ids = p.encodeWord(ids, w)
			})
		})
	})
	if addSpecial {
		after := false
		for _, s := range p.post {
			if s.seq {
				after = true
				continue
			}
			if after {
				ids = append(ids, s.ids...)
			}
		}
	}
	return ids
}

// encodeWord runs the model on one pre-tokenized word.
func (p *hfPipeline) encodeWord(ids []int, w string) []int {
	if !p.chunkSpace {
		return p.bpe.encodeWord(ids, w)
	}
	start := 0
	for i := 0; i < len(w); {
		if strings.HasPrefix(w[i:], spaceSymbol) {
			if i > start && !strings.HasSuffix(w[:i], spaceSymbol) {
				ids = p.bpe.encodeWord(ids, w[start:i])
				start = i
			}
			i += len(spaceSymbol)
			continue
		}
		i++
	}
	return p.bpe.encodeWord(ids, w[start:])
}

func parsePost(raw json.RawMessage, vocab map[string]int) ([]postStep, error) {
	var t typed
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	switch t.Type {
	case "ByteLevel":
		return nil, nil
	case "TemplateProcessing":
		var o struct {
			Single []struct {
				SpecialToken *struct {
					ID string `json:"id"`
				} `json:"SpecialToken"`
				Sequence *struct {
					ID string `json:"id"`
				} `json:"Sequence"`
			} `json:"single"`
			Special map[string]struct {
				IDs []int `json:"ids"`
			} `json:"special_tokens"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		steps := []postStep{}
		for i, s := range o.Single {
			switch {
			case s.Sequence != nil:
				steps = append(steps, postStep{seq: true})
			case s.SpecialToken != nil:
				sp, ok := o.Special[s.SpecialToken.ID]
				if !ok {
					return nil, fmt.Errorf("single[%d]: special token %q not in special_tokens", i, s.SpecialToken.ID)
				}
				steps = append(steps, postStep{ids: sp.IDs})
			default:
				return nil, fmt.Errorf("single[%d]: want SpecialToken or Sequence", i)
			}
		}
		return steps, nil
	case "BertProcessing", "RobertaProcessing":
		var o struct {
			Sep []json.RawMessage `json:"sep"`
			Cls []json.RawMessage `json:"cls"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		if len(o.Sep) != 2 || len(o.Cls) != 2 {
			return nil, errors.New("sep and cls must be [token, id]")
		}
		var sep, cls int
		if err := json.Unmarshal(o.Sep[1], &sep); err != nil {
			return nil, fmt.Errorf("sep: %w", err)
		}
		if err := json.Unmarshal(o.Cls[1], &cls); err != nil {
			return nil, fmt.Errorf("cls: %w", err)
		}
		return []postStep{{ids: []int{cls}}, {seq: true}, {ids: []int{sep}}}, nil
	case "Sequence":
		var o struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		var out []postStep
		for i, pr := range o.Processors {
			s, err := parsePost(pr, vocab)
			if err != nil {
				return nil, fmt.Errorf("processors[%d]: %w", i, err)
			}
			if s != nil {
				out = s
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported type %q", t.Type)
}

// findSplitPattern returns the first Split regex of a pre-tokenizer (GPT-2's for ByteLevel with regex).
func findSplitPattern(raw json.RawMessage) string {
	var o struct {
		Type     string            `json:"type"`
		Pattern  pattern           `json:"pattern"`
		UseRegex *bool             `json:"use_regex"`
		Pre      []json.RawMessage `json:"pretokenizers"`
	}
	if isNull(raw) || json.Unmarshal(raw, &o) != nil {
		return ""
	}
	switch o.Type {
	case "Split":
		if o.Pattern.Regex != nil {
			return *o.Pattern.Regex
		}
	case "ByteLevel":
		if o.UseRegex == nil || *o.UseRegex {
			return gpt2Pattern
		}
	case "Sequence":
		for _, r := range o.Pre {
			if s := findSplitPattern(r); s != "" {
				return s
			}
		}
	}
	return ""
}

// rustLower lowercases like Rust's str::to_lowercase: full case mapping for U+0130 and final sigma,
// which Go's simple per-rune mapping lacks.
func rustLower(s string) string {
	if !strings.ContainsAny(s, "\u0130\u03a3") {
		return strings.ToLower(s)
	}
	var sb strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		switch r {
		case '\u0130':
			sb.WriteString("i\u0307")
		case '\u03a3':
			// Final sigma: preceded by a cased letter and not followed by one (ignoring case-ignorable marks).
			before := false
			for j := i - 1; j >= 0; j-- {
				if unicode.Is(unicode.Mn, rs[j]) || rs[j] == '\'' {
					continue
				}
				before = unicode.IsLetter(rs[j]) && (unicode.IsUpper(rs[j]) || unicode.IsLower(rs[j]) || unicode.IsTitle(rs[j]))
				break
			}
			after := false
			for j := i + 1; j < len(rs); j++ {
				if unicode.Is(unicode.Mn, rs[j]) || rs[j] == '\'' {
					continue
				}
				after = unicode.IsLetter(rs[j]) && (unicode.IsUpper(rs[j]) || unicode.IsLower(rs[j]) || unicode.IsTitle(rs[j]))
				break
			}
			if before && !after {
				sb.WriteRune('\u03c2')
			} else {
				sb.WriteRune('\u03c3')
			}
		default:
			sb.WriteRune(unicode.ToLower(r))
		}
	}
	return sb.String()
}
