package record

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// fastDecode parses the canonical layout without reflection. It returns
// false, leaving r in an unspecified state, for anything it does not
// handle exactly as encoding/json would; the caller then falls back.
func fastDecode(b []byte, f Format, r *Record) bool {
	p := parser{b: b}
	*r = Record{Format: f.Canonical()}
	p.ws()
	if !p.eat('{') {
		return false
	}
	p.ws()
	if p.eat('}') {
		return p.end()
	}
	for {
		p.ws()
		key, ok := p.str()
		if !ok {
			return false
		}
		p.ws()
		if !p.eat(':') {
			return false
		}
		p.ws()
		switch key {
		case "instruction":
			r.Instruction, ok = p.strOrNull()
		case "input":
			r.Input, ok = p.strOrNull()
		case "output":
			r.Output, ok = p.strOrNull()
		case "system":
			r.System, ok = p.strOrNull()
		case "tools":
			r.Tools, ok = p.strOrNull()
		case "text":
			r.Text, ok = p.strOrNull()
		case "completion":
			r.Completion, ok = p.strOrNull()
		case "prompt":
			if p.peek() == '[' {
				r.Messages, ok = p.messages()
			} else {
				r.Prompt, ok = p.strOrNull()
			}
		case "messages":
			r.Messages, ok = p.messages()
		case "chosen":
			r.Chosen, ok = p.messages()
		case "rejected":
			r.Rejected, ok = p.messages()
		case "label":
			r.Label, ok = p.boolOrNull()
		case "_line":
			r.Line, ok = p.int()
		case "_missing":
			r.Missing, ok = p.strings()
		default:
			return false
		}
		if !ok {
			return false
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return p.end()
		}
		return false
	}
}

type parser struct {
	b []byte
	i int
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

func (p *parser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// str parses a JSON string. Invalid UTF-8 or control characters make it
// fail (encoding/json would replace or reject them).
func (p *parser) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\':
			return p.strEscaped(start)
		case c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	return "", false
}

func (p *parser) strEscaped(start int) (string, bool) {
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			if !utf8.Valid(out) {
				return "", false
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.b) {
			return "", false
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case 'r':
			out = append(out, '\r')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(r) {
				// A pair, or encoding/json's replacement rules: fall back.
				if len(p.b)-p.i < 6 || p.b[p.i] != '\\' || p.b[p.i+1] != 'u' {
					return "", false
				}
				p.i += 2
				r2, ok := p.hex4()
				if !ok {
					return "", false
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return "", false
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (p *parser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(v), true
}

func (p *parser) strOrNull() (string, bool) {
	if p.lit("null") {
		return "", true
	}
	return p.str()
}

func (p *parser) boolOrNull() (*bool, bool) {
	switch {
	case p.lit("true"):
		v := true
		return &v, true
	case p.lit("false"):
		v := false
		return &v, true
	case p.lit("null"):
		return nil, true
	}
	return nil, false
}

// int parses a small non-negative integer.
func (p *parser) int() (int, bool) {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	n := p.i - start
	if n == 0 || n > 15 || (n > 1 && p.b[start] == '0') {
		return 0, false
	}
	if c := p.peek(); c == '.' || c == 'e' || c == 'E' {
		return 0, false
	}
	v, err := strconv.Atoi(string(p.b[start:p.i]))
	return v, err == nil
}

func (p *parser) strings() ([]string, bool) {
	if p.lit("null") {
		return nil, true
	}
	if !p.eat('[') {
		return nil, false
	}
	out := []string{}
	p.ws()
	if p.eat(']') {
		return out, true
	}
	for {
		p.ws()
		s, ok := p.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		p.ws()
		if p.eat(',') {
			continue
		}
		return out, p.eat(']')
	}
}

func (p *parser) messages() ([]Message, bool) {
	if p.lit("null") {
		return nil, true
	}
	if !p.eat('[') {
		return nil, false
	}
	out := []Message{}
	p.ws()
	if p.eat(']') {
		return out, true
	}
	for {
		p.ws()
		if !p.eat('{') {
			return nil, false
		}
		var m Message
		p.ws()
		if !p.eat('}') {
			for {
				p.ws()
				k, ok := p.str()
				if !ok {
					return nil, false
				}
				p.ws()
				if !p.eat(':') {
					return nil, false
				}
				p.ws()
				switch k {
				case "role":
					m.Role, ok = p.strOrNull()
				case "content":
					m.Content, ok = p.strOrNull()
				default:
					return nil, false
				}
				if !ok {
					return nil, false
				}
				p.ws()
				if p.eat(',') {
					continue
				}
				if p.eat('}') {
					break
				}
				return nil, false
			}
		}
		out = append(out, m)
		p.ws()
		if p.eat(',') {
			continue
		}
		return out, p.eat(']')
	}
}
