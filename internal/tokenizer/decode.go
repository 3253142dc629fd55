package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// decoder transforms the list of token strings, like Hugging Face's Decoder::decode_chain.
type decoder func(toks []string) []string

func parseDecoder(raw json.RawMessage) ([]decoder, error) {
	var t typed
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	switch t.Type {
	case "Sequence":
		var o struct {
			Decoders []json.RawMessage `json:"decoders"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		var out []decoder
		for i, d := range o.Decoders {
			ds, err := parseDecoder(d)
			if err != nil {
				return nil, fmt.Errorf("decoders[%d]: %w", i, err)
			}
			out = append(out, ds...)
		}
		return out, nil
	case "ByteLevel":
		return []decoder{decodeByteLevel}, nil
	case "ByteFallback":
		return []decoder{decodeByteFallback}, nil
	case "Fuse":
		return []decoder{func(toks []string) []string { return []string{strings.Join(toks, "")} }}, nil
	case "Replace":
		var o struct {
			Pattern pattern `json:"pattern"`
			Content string  `json:"content"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		f, err := replacer(o.Pattern, o.Content)
		if err != nil {
			return nil, err
		}
		return []decoder{func(toks []string) []string {
			for i := range toks {
				toks[i] = f(toks[i])
			}
			return toks
		}}, nil
	case "Strip":
		var o struct {
			Content string `json:"content"`
			Start   int    `json:"start"`
			Stop    int    `json:"stop"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		return []decoder{func(toks []string) []string {
			for i, tok := range toks {
				for range o.Start {
					if !strings.HasPrefix(tok, o.Content) {
						break
					}
					tok = tok[len(o.Content):]
				}
				for range o.Stop {
					if !strings.HasSuffix(tok, o.Content) {
						break
					}
					tok = tok[:len(tok)-len(o.Content)]
				}
				toks[i] = tok
			}
			return toks
		}}, nil
	case "Metaspace":
		o := struct {
			Replacement    string `json:"replacement"`
			PrependScheme  string `json:"prepend_scheme"`
			AddPrefixSpace *bool  `json:"add_prefix_space"`
		}{}
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, err
		}
		if o.Replacement == "" {
			o.Replacement = spaceSymbol
		}
		strip := o.PrependScheme != "never"
		if o.PrependScheme == "" && o.AddPrefixSpace != nil {
			strip = *o.AddPrefixSpace
		}
		return []decoder{func(toks []string) []string {
			for i, tok := range toks {
				tok = strings.ReplaceAll(tok, o.Replacement, " ")
				if i == 0 && strip {
					tok = strings.TrimPrefix(tok, " ")
				}
				toks[i] = tok
			}
			return toks
		}}, nil
	}
	return nil, fmt.Errorf("unsupported type %q", t.Type)
}

// decodeByteLevel maps each token's characters back to bytes and reads the whole stream as UTF-8,
// replacing invalid sequences with U+FFFD.
func decodeByteLevel(toks []string) []string {
	var b []byte
	for _, tok := range toks {
		if raw, ok := unmapBytes(tok); ok {
			b = append(b, raw...)
		} else {
			b = append(b, tok...)
		}
	}
	return []string{strings.ToValidUTF8(lossy(b), "\uFFFD")}
}

// lossy converts like Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes U+FFFD.
func lossy(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			sb.WriteString("\uFFFD")
			// Skip the rest of a truncated but well-started sequence, as Rust does.
			n = invalidLen(b)
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}

// invalidLen is the length of the maximal prefix of b that starts a valid sequence but is cut short
// (at least 1).
func invalidLen(b []byte) int {
	c := b[0]
	var need int
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 2
	case c >= 0xE0 && c <= 0xEF:
		need = 3
	case c >= 0xF0 && c <= 0xF4:
		need = 4
	default:
		return 1
	}
	i := 1
	for i < need && i < len(b) {
		lo, hi := byte(0x80), byte(0xBF)
		if i == 1 {
			switch c {
			case 0xE0:
				lo = 0xA0
			case 0xED:
				hi = 0x9F
			case 0xF0:
				lo = 0x90
			case 0xF4:
				hi = 0x8F
			}
		}
		if b[i] < lo || b[i] > hi {
			break
		}
		i++
	}
	return i
}

// decodeByteFallback turns runs of <0xXX> tokens into text (U+FFFD per byte if not valid UTF-8).
func decodeByteFallback(toks []string) []string {
	var out []string
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, tok := range toks {
		if len(tok) == 6 && strings.HasPrefix(tok, "<0x") && tok[5] == '>' {
			var v int
			if _, err := fmt.Sscanf(tok, "<0x%02X>", &v); err == nil {
				pending = append(pending, byte(v))
				continue
			}
		}
		flush()
		out = append(out, tok)
	}
	flush()
	return out
}

// decode runs the decoder chain over the tokens of ids.
func (p *hfPipeline) decode(ids []int, skipSpecial bool) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if id < 0 || id >= len(p.idToToken) {
			continue
		}
		if skipSpecial && p.isSpecial(id) {
			continue
		}
		toks = append(toks, p.idToToken[id])
	}
	if !p.hasDec {
		return strings.Join(toks, " ")
	}
	for _, d := range p.decoders {
		toks = d(toks)
	}
	return strings.Join(toks, "")
}

func (p *hfPipeline) isSpecial(id int) bool {
	return p.addedByID[id].Special
}
