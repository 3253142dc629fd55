// Package clean normalises text for training: Unicode NFC, whitespace,
// HTML to text and control characters.
package clean

import (
	"html"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Options select the cleaning steps.
type Options struct {
	// NFC composes characters (e + U+0301 -> é).
	NFC bool
	// Whitespace turns CRLF and CR into LF, Unicode spaces into ASCII
	// spaces, removes zero-width characters, trims trailing spaces on each
	// line and the whole text, and squeezes three or more newlines into
	// two. Indentation is kept (code).
	Whitespace bool
	// HTML turns text that contains HTML tags into plain text: tags
	// removed, block tags become newlines, <script> and <style> contents
	// dropped, entities decoded. Off by default: it would damage code that
	// mentions tags.
	HTML bool
	// Control removes C0 controls other than tab, LF and CR, DEL and C1
	// controls.
	Control bool
}

// Defaults returns every step but HTML.
func Defaults() Options { return Options{NFC: true, Whitespace: true, Control: true} }

// Stats counts the texts each step changed.
type Stats struct {
	NFC        int `json:"nfc"`
	Whitespace int `json:"whitespace"`
	HTML       int `json:"html"`
	Control    int `json:"control"`
}

// Add adds o to s.
func (s *Stats) Add(o Stats) {
	s.NFC += o.NFC
	s.Whitespace += o.Whitespace
	s.HTML += o.HTML
	s.Control += o.Control
}

// Text applies the steps in the order HTML, control, NFC, whitespace, and
// counts changes in st (which may be nil).
func Text(s string, o Options, st *Stats) string {
	var scratch Stats
	if st == nil {
		st = &scratch
	}
	if o.HTML && looksHTML(s) {
		if t := HTMLToText(s); t != s {
			s = t
			st.HTML++
		}
	}
	if o.Control {
		if t := Control(s); t != s {
			s = t
			st.Control++
		}
	}
	if o.NFC && !norm.NFC.IsNormalString(s) {
		s = norm.NFC.String(s)
		st.NFC++
	}
	if o.Whitespace {
		if t := Whitespace(s); t != s {
			s = t
			st.Whitespace++
		}
	}
	return s
}

// Control removes control characters other than tab, LF and CR.
func Control(s string) string {
	bad := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f || (c == 0xC2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f) {
			bad = true
			break
		}
	}
	if !bad {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r <= 0x9f) {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unicodeSpace(r rune) bool {
	return r == 0xA0 || (r >= 0x2000 && r <= 0x200A) || r == 0x202F || r == 0x205F || r == 0x3000 || r == 0x1680
}

func zeroWidth(r rune) bool { return r == 0x200B || r == 0xFEFF || r == 0x2060 }

// Whitespace normalises whitespace (see Options.Whitespace). It returns s
// itself when nothing changes.
func Whitespace(s string) string {
	if !needsWhitespace(s) {
		return s
	}
	return whitespace(s)
}

func whitespace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	newlines := 0
	var pending []byte // spaces and tabs not yet written (dropped at line end)
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		switch {
		case r == '\r':
			if i < len(s) && s[i] == '\n' {
				continue
			}
			r = '\n'
		case unicodeSpace(r):
			r = ' '
		case zeroWidth(r):
			continue
		}
		if r == '\n' {
			pending = pending[:0]
			newlines++
			continue
		}
		if r == ' ' || r == '\t' {
			pending = append(pending, byte(r))
			continue
		}
		if newlines > 0 && b.Len() > 0 {
			for range min(newlines, 2) {
				b.WriteByte('\n')
			}
		}
		newlines = 0
		// Leading whitespace of the text is dropped; indentation of later
		// lines and inner spaces are kept.
		if len(pending) > 0 && b.Len() > 0 {
			b.Write(pending)
		}
		pending = pending[:0]
		b.WriteString(s[i-size : i]) // the original bytes (invalid UTF-8 kept as is)
	}
	return b.String()
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// needsWhitespace reports whether Whitespace would change s.
func needsWhitespace(s string) bool {
	if s == "" {
		return false
	}
	if isSpace(s[0]) || isSpace(s[len(s)-1]) {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\r':
			return true
		case (c == ' ' || c == '\t') && i+1 < len(s) && s[i+1] == '\n':
			return true
		case c == '\n' && i+2 < len(s) && s[i+1] == '\n' && s[i+2] == '\n':
			return true
		case c >= 0xC2:
			r, _ := utf8.DecodeRuneInString(s[i:])
			if unicodeSpace(r) || zeroWidth(r) {
				return true
			}
		}
	}
	return false
}

var htmlTags = []string{"<p>", "<p ", "</p>", "<br", "<div", "</div>", "<span", "<a href", "<li>", "<ul>", "<ol>", "<b>", "<i>", "<strong>", "<em>", "<h1", "<h2", "<h3", "<table", "<td", "<tr", "<html", "<body", "&nbsp;", "&amp;", "&lt;", "&gt;", "&quot;", "&#"}

func looksHTML(s string) bool {
	if strings.IndexByte(s, '<') < 0 && strings.IndexByte(s, '&') < 0 {
		return false
	}
	l := strings.ToLower(s)
	for _, t := range htmlTags {
		if strings.Contains(l, t) {
			return true
		}
	}
	return false
}

var blockTags = map[string]bool{"p": true, "br": true, "div": true, "li": true, "ul": true, "ol": true, "tr": true, "table": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "pre": true, "blockquote": true, "section": true, "article": true, "hr": true}

// HTMLToText converts HTML to plain text.
func HTMLToText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if s[i] != '<' {
			j := strings.IndexByte(s[i:], '<')
			if j < 0 {
				j = len(s) - i
			}
			b.WriteString(html.UnescapeString(s[i : i+j]))
			i += j
			continue
		}
		end := strings.IndexByte(s[i:], '>')
		if end < 0 {
			b.WriteString(html.UnescapeString(s[i:]))
			break
		}
		tag := s[i+1 : i+end]
		i += end + 1
		name := strings.ToLower(strings.TrimLeft(tag, "/"))
		if k := strings.IndexAny(name, " \t\n/"); k >= 0 {
			name = name[:k]
		}
		if name == "" || !isTagName(name) {
			b.WriteString("<" + tag + ">")
			continue
		}
		if (name == "script" || name == "style") && !strings.HasPrefix(tag, "/") {
			if k := strings.Index(strings.ToLower(s[i:]), "</"+name); k >= 0 {
				i += k
			} else {
				i = len(s)
			}
			continue
		}
		if blockTags[name] && !(strings.HasPrefix(tag, "/") && (name == "li" || name == "tr" || name == "br")) {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

var knownTags = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range strings.Fields("a abbr article aside audio b blockquote body br button center cite code dd del div dl dt em " +
		"figcaption figure font footer form h1 h2 h3 h4 h5 h6 head header hr html i iframe img input ins label li link main " +
		"mark meta nav noscript ol option p pre q s script section select small source span strike strong style sub sup " +
		"table tbody td textarea th thead time title tr u ul video") {
		m[t] = true
	}
	return m
}()

func isTagName(s string) bool { return strings.HasPrefix(s, "!") || knownTags[s] }
