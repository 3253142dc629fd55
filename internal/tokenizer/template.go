package tokenizer

import (
	"regexp"
	"strings"
)

// This file adapts chat templates to github.com/ardanlabs/jinja v1.8.0 before they are compiled,
// where that engine differs from Jinja2 as transformers runs it (trim_blocks, lstrip_blocks, its
// tojson filter):
//
//   - Whitespace control. Jinja2 applies `{%-`, `-%}`, lstrip_blocks and trim_blocks only to the text
//     right next to the tag; v1.8.0 searches past intervening `{{ }}` tags, so
//     `Effort: {{ x }}{%- endif %}` loses the space before `{{` (GLM-5.2's real template). We apply
//     Jinja2's rules here and hand the engine a template whose whitespace it cannot touch: no `-`
//     markers, and text segments that neither start nor end with whitespace (the edge whitespace is
//     written as string literals, `{{ '  ' }}`, which no trimming rule touches). Like Jinja2 we also
//     read "\r\n" as "\n", drop one newline at the end of the template, and keep `{% raw %}`
//     content verbatim (v1.8.0 drops the `-` markers of tags inside it).
//   - tojson. v1.8.0's filter writes floats with Go's shortest format (1.0 as "1", 1e6 as
//     "1e+06" where Python writes "1.0" and "1000000.0") and with indent=N goes through
//     json.MarshalIndent (sorted keys, HTML escaping). Filters cannot be replaced in v1.8.0, so
//     `PATH | tojson` and `PATH | tojson(k=v, ...)` (PATH a variable, attribute and subscript chain
//     such as `t`, `tool.function`, `message.tool_calls[0]['function']`) are rewritten to
//     `__tojson(PATH, k=v, ...)`, a callable installed by ApplyChatTemplate that writes Python's
//     json.dumps(ensure_ascii=False, ...) with keys in insertion order. Other operands
//     (`(a ~ b) | tojson`) keep the engine's filter.

type segKind int

const (
	segText segKind = iota
	segExpr
	segStmt
	segComment
	segRaw // the content of {% raw %}...{% endraw %}, kept verbatim
)

type tmplSeg struct {
	kind      segKind
	text      string // text, or the tag's content without delimiters and trim markers
	lines     int    // newlines in the text before trimming
	trimLeft  bool   // {%- {{- {#-
	trimRight bool   // -%} -}} -#}
	keepLeft  bool   // {%+ {#+: no lstrip_blocks
	keepRight bool   // +%} +#}: no trim_blocks
}

// scanTemplate splits src into text and tags exactly as ardanlabs/jinja v1.8.0's scanner does:
// the first "{{", "{%" or "{#" opens a tag, closers inside quoted strings of expressions and
// statements are skipped, comments end at the first "#}". It also reads Jinja2's `{%+` and `+%}`
// markers (keep the indentation before, the newline after a block or comment tag). The content of
// a raw block is one segRaw between the raw and endraw tags.
func scanTemplate(src string) ([]tmplSeg, bool) {
	var segs []tmplSeg
	textStart := 0
	for i := 0; i < len(src); {
		if src[i] != '{' || i+1 >= len(src) {
			i++
			continue
		}
		var kind segKind
		var closer string
		switch src[i+1] {
		case '{':
			kind, closer = segExpr, "}}"
		case '%':
			kind, closer = segStmt, "%}"
		case '#':
			kind, closer = segComment, "#}"
		default:
			i++
			continue
		}
		if i > textStart {
			segs = append(segs, textSeg(segText, src[textStart:i]))
		}
		i += 2
		seg := tmplSeg{kind: kind}
		if i < len(src) && src[i] == '-' {
			seg.trimLeft = true
			i++
		} else if i < len(src) && src[i] == '+' && kind != segExpr {
			seg.keepLeft = true
			i++
		}
		start, found := i, false
		for i < len(src) {
			c := src[i]
			if kind != segComment && (c == '\'' || c == '"') {
				for i++; i < len(src) && src[i] != c; i++ {
					if src[i] == '\\' && i+1 < len(src) {
						i++
					}
				}
				if i < len(src) {
					i++
				}
				continue
			}
			if c == '-' && i+2 < len(src) && src[i+1] == closer[0] && src[i+2] == closer[1] {
				seg.text, seg.trimRight, found = src[start:i], true, true
				i += 3
				break
			}
			if c == '+' && kind != segExpr && i+2 < len(src) && src[i+1] == closer[0] && src[i+2] == closer[1] {
				seg.text, seg.keepRight, found = src[start:i], true, true
				i += 3
				break
			}
			if c == closer[0] && i+1 < len(src) && src[i+1] == closer[1] {
				seg.text, found = src[start:i], true
				i += 2
				break
			}
			i++
		}
		if !found {
			return nil, false // unclosed tag: let the engine report it
		}
		segs = append(segs, seg)
		textStart = i
		if kind == segStmt && stmtWord(seg.text) == "raw" {
			m := endrawRe.FindStringSubmatchIndex(src[i:])
			if m == nil {
				return nil, false
			}
			left, right := src[i+m[2]:i+m[3]], src[i+m[4]:i+m[5]]
			segs = append(segs, textSeg(segRaw, src[i:i+m[0]]),
				tmplSeg{kind: segStmt, text: " endraw ", trimLeft: left == "-", keepLeft: left == "+",
					trimRight: right == "-", keepRight: right == "+"})
			i += m[1]
			textStart = i
		}
	}
	if textStart < len(src) {
		segs = append(segs, textSeg(segText, src[textStart:]))
	}
	return segs, true
}

func textSeg(kind segKind, text string) tmplSeg {
	return tmplSeg{kind: kind, text: text, lines: strings.Count(text, "\n")}
}

var endrawRe = regexp.MustCompile(`\{%([-+]?)\s*endraw\s*([-+]?)%\}`)

// applyJinja2Trimming applies Jinja2's whitespace control to the text segments: a `-` marker strips
// all whitespace of the adjacent text on its side; a block or comment tag without one strips the
// indentation before it when it starts its line (lstrip_blocks) and one newline after it
// (trim_blocks). Only the text right next to a tag is affected. Left sides go first so that
// trim_blocks cannot hide the newline lstrip_blocks looks for.
func applyJinja2Trimming(segs []tmplSeg) {
	for i := range segs {
		s := &segs[i]
		if s.kind == segText || s.kind == segRaw || i == 0 || segs[i-1].kind != segText {
			continue
		}
		prev := &segs[i-1]
		switch {
		case s.trimLeft:
			prev.text = strings.TrimRight(prev.text, " \t\n\r")
		case (s.kind == segStmt || s.kind == segComment) && !s.keepLeft:
			prev.text = lstripLine(prev.text, i-1 == 0)
		}
	}
	// Raw content: `raw -%}` strips its leading whitespace, `{%- endraw` its trailing whitespace,
	// and lstrip_blocks applies to `{% endraw %}`; trim_blocks does not apply to `{% raw %}`.
	for i := range segs {
		if segs[i].kind != segRaw {
			continue
		}
		if segs[i-1].trimRight {
			segs[i].text = strings.TrimLeft(segs[i].text, " \t\n\r")
		}
		if segs[i+1].trimLeft {
			segs[i].text = strings.TrimRight(segs[i].text, " \t\n\r")
		} else if !segs[i+1].keepLeft {
			segs[i].text = lstripLine(segs[i].text, false)
		}
	}
	for i := range segs {
		s := &segs[i]
		if s.kind == segText || s.kind == segRaw || i+1 == len(segs) || segs[i+1].kind != segText {
			continue
		}
		next := &segs[i+1]
		switch {
		case s.trimRight:
			next.text = strings.TrimLeft(next.text, " \t\n\r")
		case (s.kind == segStmt || s.kind == segComment) && !s.keepRight:
			if t, ok := strings.CutPrefix(next.text, "\r\n"); ok {
				next.text = t
			} else {
				next.text = strings.TrimPrefix(next.text, "\n")
			}
		}
	}
}

// lstripLine strips the spaces and tabs that end t if a newline (or, with atStart, the start of
// the template) precedes them: lstrip_blocks for a tag that starts its line.
func lstripLine(t string, atStart bool) string {
	end := len(t)
	for end > 0 && (t[end-1] == ' ' || t[end-1] == '\t') {
		end--
	}
	if end > 0 && t[end-1] == '\n' || end == 0 && atStart {
		return t[:end]
	}
	return t
}

// tojsonRe matches `PATH | tojson` with PATH a variable, attribute and subscript chain such as `t`,
// `tool.function` or `message.tool_calls[0]['function']`.
var tojsonRe = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*|\[[^\[\]|]*\])*)\s*\|\s*tojson\b`)

var kwargRe = regexp.MustCompile(`^\s*[A-Za-z_][A-Za-z0-9_]*\s*=[^=]`)

// rewriteTojson turns `PATH | tojson` and `PATH | tojson(k=v, ...)` in a tag's content into
// `__tojson(PATH)` and `__tojson(PATH, k=v, ...)`. Other operands (`(a ~ b) | tojson`) and
// positional arguments are left to the engine's filter.
func rewriteTojson(code string) string {
	if !strings.Contains(code, "tojson") {
		return code
	}
	var sb strings.Builder
	last := 0
	for _, m := range tojsonRe.FindAllStringSubmatchIndex(code, -1) {
		if m[0] < last {
			continue
		}
		// The path must start a primary expression, not continue one (`f(x).y`, `a.b`, `'s'.x`).
		if !startsOperand(code[:m[0]]) {
			continue
		}
		end, args, ok := m[1], "", true
		if rest := strings.TrimLeft(code[end:], " \t\r\n"); strings.HasPrefix(rest, "(") {
			open := len(code) - len(rest)
			closeAt := matchParen(code, open)
			if closeAt < 0 {
				continue
			}
			args, end = code[open+1:closeAt], closeAt+1
			for _, a := range splitArgs(args) {
				if !kwargRe.MatchString(a) {
					ok = false // a positional argument: Jinja2 would bind it to ensure_ascii
				}
			}
		}
		if !ok {
			continue
		}
		sb.WriteString(code[last:m[0]])
		sb.WriteString("__tojson(")
		sb.WriteString(code[m[2]:m[3]])
		if strings.TrimSpace(args) != "" {
			sb.WriteString(", ")
			sb.WriteString(args)
		}
		sb.WriteString(")")
		last = end
	}
	sb.WriteString(code[last:])
	return sb.String()
}

// startsOperand reports whether an expression can start after before: `x | tojson` preceded by
// "f(a).", "a." or "'s'" is part of a longer operand.
func startsOperand(before string) bool {
	p := strings.TrimRight(before, " \t\r\n")
	if p == "" {
		return true
	}
	word := len(p)
	for word > 0 && isIdentByte(p[word-1]) {
		word--
	}
	if word < len(p) {
		switch p[word:] {
		case "not", "and", "or", "in", "if", "else", "is":
			return word == 0 || !isIdentByte(p[word-1]) && p[word-1] != '.'
		}
		return false
	}
	c := p[len(p)-1]
	return c != '.' && c != ')' && c != ']' && c != '\'' && c != '"'
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// matchParen returns the index of the ")" closing the "(" at open, skipping quoted strings, or -1.
func matchParen(code string, open int) int {
	depth := 0
	for i := open; i < len(code); i++ {
		switch c := code[i]; c {
		case '\'', '"':
			for i++; i < len(code) && code[i] != c; i++ {
				if code[i] == '\\' {
					i++
				}
			}
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				if c != ')' {
					return -1
				}
				return i
			}
		}
	}
	return -1
}

// splitArgs splits an argument list at its top-level commas.
func splitArgs(args string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(args); i++ {
		switch c := args[i]; c {
		case '\'', '"':
			for i++; i < len(args) && args[i] != c; i++ {
				if args[i] == '\\' {
					i++
				}
			}
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, args[start:i])
				start = i + 1
			}
		}
	}
	if strings.TrimSpace(args[start:]) != "" {
		out = append(out, args[start:])
	}
	return out
}

// prepareTemplate rewrites a chat template for ardanlabs/jinja so that it renders as Jinja2 with
// transformers' settings would (see the top of this file).
func prepareTemplate(src string) string {
	// Jinja2 reads "\r\n" and "\r" as "\n" and drops one newline at the end of the template
	// (keep_trailing_newline=False).
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	src = strings.TrimSuffix(src, "\n")
	segs, ok := scanTemplate(src)
	if !ok {
		return src
	}
	applyJinja2Trimming(segs)
	var sb strings.Builder
	sb.Grow(len(src) + len(src)/8)
	for _, s := range segs {
		switch s.kind {
		case segText:
			writeText(&sb, s.text)
		case segRaw:
			if s.text != "" {
				sb.WriteString("{{ '")
				sb.WriteString(strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s.text))
				sb.WriteString("' }}")
			}
		default:
			writeTag(&sb, s)
			continue
		}
		// Keep the engine's line numbers (in its error messages) those of the source.
		if n := s.lines - strings.Count(s.text, "\n"); n > 0 {
			sb.WriteString("{#")
			sb.WriteString(strings.Repeat("\n", n))
			sb.WriteString("#}")
		}
	}
	return sb.String()
}

// writeText writes template text so that the engine's trimming cannot change it: the whitespace at
// its edges as string literals (whitespace has no quotes or backslashes to escape).
func writeText(sb *strings.Builder, t string) {
	whitespace := func(ws string) {
		if ws != "" {
			sb.WriteString("{{ '")
			sb.WriteString(ws)
			sb.WriteString("' }}")
		}
	}
	lead := len(t) - len(strings.TrimLeft(t, " \t\n\r"))
	whitespace(t[:lead])
	t = t[lead:]
	core := strings.TrimRight(t, " \t\n\r")
	trail := t[len(core):]
	// A trailing "{" would join the next tag's opener into "{{{".
	brace := strings.HasSuffix(core, "{")
	if brace {
		core = core[:len(core)-1]
	}
	sb.WriteString(core)
	if brace {
		sb.WriteString("{{ '{' }}")
	}
	whitespace(trail)
}

// writeTag writes a tag without trim markers, with tojson rewritten; raw and endraw tags are
// dropped (their content is written as a string).
func writeTag(sb *strings.Builder, s tmplSeg) {
	open, close := "{{", "}}"
	code := s.text
	switch s.kind {
	case segStmt:
		switch stmtWord(code) {
		case "raw", "endraw":
			return
		case "generation":
			sb.WriteString("{{ '" + genBegin + "' }}")
			return
		case "endgeneration":
			sb.WriteString("{{ '" + genEnd + "' }}")
			return
		}
		open, close = "{%", "%}"
		code = rewriteTojson(code)
	case segExpr:
		code = rewriteTojson(code)
	case segComment:
		open, close = "{#", "#}"
	}
	sb.WriteString(open)
	if strings.HasPrefix(code, "-") || strings.HasPrefix(code, "+") {
		sb.WriteByte(' ') // not a trim marker
	}
	sb.WriteString(code)
	if strings.HasSuffix(code, "-") {
		sb.WriteByte(' ')
	}
	sb.WriteString(close)
}

// stmtWord returns the first word of a statement tag's content.
func stmtWord(code string) string {
	code = strings.TrimLeft(code, " \t\r\n")
	end := strings.IndexAny(code, " \t\r\n")
	if end < 0 {
		return code
	}
	return code[:end]
}

// transformers' {% generation %} ... {% endgeneration %} blocks mark assistant output. Jinja2 has no
// such tag, so prepareTemplate turns each into a marker string (private-use code points that do not
// occur in text) and extractGenerationSpans removes the markers after rendering, recording where the
// blocks' output landed.
const (
	genBegin = "\uE000whet:generation\uE001"
	genEnd   = "\uE000whet:endgeneration\uE001"
)

// extractGenerationSpans returns out without generation markers and the byte ranges, in the
// returned text, of the output between each begin and end marker.
func extractGenerationSpans(out string) (string, [][2]int) {
	if !strings.Contains(out, "\uE000whet:") {
		return out, nil
	}
	var sb strings.Builder
	sb.Grow(len(out))
	var spans [][2]int
	start := -1
	for {
		b, e := strings.Index(out, genBegin), strings.Index(out, genEnd)
		if b < 0 && e < 0 {
			sb.WriteString(out)
			break
		}
		if b >= 0 && (e < 0 || b < e) {
			sb.WriteString(out[:b])
			start = sb.Len()
			out = out[b+len(genBegin):]
			continue
		}
		sb.WriteString(out[:e])
		if start >= 0 {
			spans = append(spans, [2]int{start, sb.Len()})
			start = -1
		}
		out = out[e+len(genEnd):]
	}
	return sb.String(), spans
}
