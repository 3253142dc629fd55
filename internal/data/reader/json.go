package reader

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"
)

// tracker sits between the file and json.Decoder: it maps byte offsets to
// line and column, keeping only the newline offsets the decoder has read
// ahead, and rejects NUL bytes and invalid UTF-8 as they stream by.
type tracker struct {
	r      io.Reader
	path   string
	off0   int64   // file offset of the first byte delivered
	off    int64   // file offset after the bytes delivered
	nl     []int64 // offsets of newlines after the last position query
	head   int     // first live index in nl
	before int     // newlines before nl[head]
	lastNL int64   // offset of the last newline before nl[head], or -1
	carry  []byte  // an incomplete UTF-8 sequence at the end of the last read
	err    error
	// kept holds the bytes delivered since file offset keptAt, so that a
	// syntax error inside an element can be located by re-scanning it.
	kept   []byte
	keptAt int64
}

// mark drops kept bytes before file offset off.
func (t *tracker) mark(off int64) {
	if d := off - t.keptAt; d > 0 && d <= int64(len(t.kept)) {
		n := copy(t.kept, t.kept[d:])
		t.kept = t.kept[:n]
		t.keptAt = off
	}
}

// locate returns the file offset of the syntax error in the JSON value
// starting at file offset start, or -1.
func (t *tracker) locate(start int64) int64 {
	d := start - t.keptAt
	if d < 0 || d > int64(len(t.kept)) {
		return -1
	}
	var v any
	var se *json.SyntaxError
	if err := json.Unmarshal(t.kept[d:], &v); errors.As(err, &se) && se.Offset > 0 {
		return start + se.Offset - 1
	}
	return -1
}

func newTracker(r io.Reader, path string, start int64) *tracker {
	return &tracker{r: r, path: path, off0: start, off: start, lastNL: -1, keptAt: start}
}

func (t *tracker) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.r.Read(p)
	b := p[:n]
	// Validate: prepend the carried bytes of a split rune.
	bad := -1
	msg := ""
	if len(t.carry) > 0 {
		need := append(t.carry, b[:min(len(b), 4-len(t.carry))]...)
		r, size := utf8.DecodeRune(need)
		if r == utf8.RuneError && size <= 1 && (utf8.FullRune(need) || err != nil) {
			bad, msg = -len(t.carry), invalidMsg(t.carry)
		} else if size > len(t.carry) {
			b = b[size-len(t.carry):]
		}
		t.carry = t.carry[:0]
	}
	skip := n - len(b)
	if bad == -1 {
		for i := 0; i < len(b); {
			c := b[i]
			if c == 0 {
				bad, msg = skip+i, "NUL byte in text (binary file, or UTF-16 without a byte order mark?)"
				break
			}
			if c < utf8.RuneSelf {
				i++
				continue
			}
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				if !utf8.FullRune(b[i:]) && len(b)-i < 4 && err == nil {
					t.carry = append(t.carry, b[i:]...)
					break
				}
				bad, msg = skip+i, invalidMsg(b[i:])
				break
			}
			i += size
		}
	}
	for i, c := range p[:n] {
		if c == '\n' && (bad < 0 || i < bad) {
			t.nl = append(t.nl, t.off+int64(i))
		}
	}
	if bad >= 0 {
		t.kept = append(t.kept, p[:bad]...)
	} else if bad == -1 {
		t.kept = append(t.kept, p[:n]...)
	}
	if bad != -1 {
		line, col := t.peekPos(t.off + int64(bad))
		t.err = &Error{Path: t.path, Line: line, Column: col, Msg: msg, Fatal: true}
		if bad < 0 {
			bad = 0
		}
		t.off += int64(bad)
		return bad, nil
	}
	t.off += int64(n)
	return n, err
}

// peekPos is pos without forgetting newlines.
func (t *tracker) peekPos(off int64) (line, col int) {
	before, last := t.before, t.lastNL
	for i := t.head; i < len(t.nl) && t.nl[i] < off; i++ {
		before, last = before+1, t.nl[i]
	}
	return before + 1, int(off - last)
}

// pos returns the line and column of offset off; offsets should not
// decrease between calls (an earlier one gets column 0, unknown).
func (t *tracker) pos(off int64) (line, col int) {
	if off <= t.lastNL {
		return t.before, 0
	}
	for t.head < len(t.nl) && t.nl[t.head] < off {
		t.lastNL = t.nl[t.head]
		t.head++
		t.before++
	}
	if t.head > 1024 && t.head > len(t.nl)/2 {
		t.nl = append(t.nl[:0], t.nl[t.head:]...)
		t.head = 0
	}
	return t.before + 1, int(off - t.lastNL)
}

// jsonReader streams the elements of a top-level array, or of the arrays
// under each key of a top-level object (a split name per key, which becomes
// the "_split" field), or zips the arrays of a columnar object
// ({"col": [v1, v2, ...], ...}) into rows.
type jsonReader struct {
	base
	t      *tracker
	dec    *json.Decoder
	object bool   // top-level object of arrays
	key    string // current key in object mode
	inArr  bool
	cols   []*column // columnar mode
	row    int
	done   bool
	ahead  [256]byte
}

type column struct {
	name string
	f    *os.File
	dec  *json.Decoder
}

func newJSON(b base, opts Options) (Reader, error) {
	// Offset of the first byte the decoder will see (after a BOM).
	start := b.cr.n - int64(b.br.Buffered())
	t := newTracker(b.br, b.path, start)
	dec := json.NewDecoder(t)
	r := &jsonReader{base: b, t: t, dec: dec}
	tok, err := dec.Token()
	if err != nil {
		b.Close()
		if err == io.EOF {
			return nil, &Error{Path: b.path, Line: 1, Msg: "empty file", Fatal: true}
		}
		return nil, r.syntax(err)
	}
	switch tok {
	case json.Delim('['):
		r.inArr = true
	case json.Delim('{'):
		r.object = true
		if cols, err := r.columnar(); err != nil {
			b.Close()
			return nil, err
		} else if cols != nil {
			r.cols = cols
		}
	default:
		b.Close()
		return nil, &Error{Path: b.path, Line: 1, Column: 1, Msg: "malformed JSON: expected an array of records or an object of arrays", Fatal: true}
	}
	return r, nil
}

// columnar peeks at the first array of a top-level object. If its elements
// are not objects, the file is columnar: it opens one decoder per key,
// positioned at its array (which needs the file itself; streamed input
// cannot be columnar).
func (r *jsonReader) columnar() ([]*column, error) {
	f, ok := r.closer.(*os.File)
	if !ok {
		return nil, nil
	}
	pf, err := os.Open(f.Name())
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	// Scan the top level with a fresh decoder on a second handle.
	br := bufio.NewReaderSize(pf, 64<<10)
	start := int64(0)
	if head, _ := br.Peek(3); bytes.Equal(head, bom) {
		br.Discard(3)
		start = 3
	}
	t := newTracker(br, r.path, start)
	dec := json.NewDecoder(t)
	if _, err := dec.Token(); err != nil {
		return nil, nil
	}
	type arr struct {
		name string
		off  int64
	}
	var arrs []arr
	first := true
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, nil // the streaming pass reports it
		}
		d, err := dec.Token()
		if err != nil || d != json.Delim('[') {
			return nil, nil
		}
		arrs = append(arrs, arr{k.(string), start + dec.InputOffset()})
		if first {
			first = false
			if !dec.More() {
				return nil, nil
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, nil
			}
			if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '{' {
				return nil, nil // records under keys
			}
		}
		depth := 1
		for depth > 0 {
			tok, err := dec.Token()
			if err != nil {
				return nil, nil
			}
			switch tok {
			case json.Delim('['), json.Delim('{'):
				depth++
			case json.Delim(']'), json.Delim('}'):
				depth--
			}
		}
	}
	if len(arrs) == 0 {
		return nil, nil
	}
	var cols []*column
	for _, a := range arrs {
		cf, err := os.Open(f.Name())
		if err != nil {
			closeCols(cols)
			return nil, err
		}
		// Seek to the '[' and consume it, so the decoder is inside the array.
		dec := json.NewDecoder(bufio.NewReaderSize(cf, 16<<10))
		_, err = cf.Seek(a.off-1, io.SeekStart)
		if err == nil {
			_, err = dec.Token()
		}
		if err != nil {
			cf.Close()
			closeCols(cols)
			return nil, err
		}
		cols = append(cols, &column{name: a.name, f: cf, dec: dec})
	}
	return cols, nil
}

func closeCols(cols []*column) {
	for _, c := range cols {
		c.f.Close()
	}
}

func (r *jsonReader) Close() error {
	closeCols(r.cols)
	return r.base.Close()
}

func (r *jsonReader) syntax(err error) error { return r.syntaxAt(err, -1) }

// syntaxAt converts a decoder error to an *Error. value is the decoder
// offset of the value being decoded, or -1; errors without an offset are
// placed there.
func (r *jsonReader) syntaxAt(err error, value int64) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	off := r.dec.InputOffset()
	if value >= 0 {
		off = value
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
		if value >= 0 {
			if at := r.t.locate(r.t.off0 + value); at >= 0 {
				line, col := r.t.pos(at)
				return &Error{Path: r.path, Line: line, Column: col, Msg: jsonErr(err).Error(), Fatal: true}
			}
		}
	case errors.As(err, &te):
		off = te.Offset
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		line, col := r.t.pos(r.t.off)
		return &Error{Path: r.path, Line: line, Column: col, Msg: "malformed JSON: unexpected end of file", Fatal: true}
	}
	line, col := r.t.pos(r.t.off0 + off)
	return &Error{Path: r.path, Line: line, Column: col, Msg: jsonErr(err).Error(), Fatal: true}
}

func (r *jsonReader) Next() (Row, error) {
	if r.done {
		return Row{}, io.EOF
	}
	if r.cols != nil {
		return r.nextColumnar()
	}
	for {
		if !r.inArr {
			// Object mode: the next key must hold an array.
			if !r.dec.More() {
				if _, err := r.dec.Token(); err != nil {
					r.done = true
					return Row{}, r.syntax(err)
				}
				r.done = true
				return Row{}, io.EOF
			}
			k, err := r.dec.Token()
			if err != nil {
				r.done = true
				return Row{}, r.syntax(err)
			}
			r.key, _ = k.(string)
			d, err := r.dec.Token()
			if err != nil {
				r.done = true
				return Row{}, r.syntax(err)
			}
			if d != json.Delim('[') {
				r.done = true
				line, col := r.t.pos(r.t.off0 + r.dec.InputOffset())
				return Row{}, &Error{Path: r.path, Line: line, Column: col, Msg: fmt.Sprintf("malformed JSON: key %q: expected an array of records", r.key), Fatal: true}
			}
			r.inArr = true
		}
		if !r.dec.More() {
			if _, err := r.dec.Token(); err != nil { // ']'
				r.done = true
				return Row{}, r.syntax(err)
			}
			if !r.object {
				r.done = true
				return Row{}, io.EOF
			}
			r.inArr = false
			continue
		}
		// Position of the element: skip whitespace and the comma.
		off := r.dec.InputOffset()
		n, _ := r.dec.Buffered().Read(r.ahead[:])
		ahead := r.ahead[:n]
		start := elemStart(off, ahead)
		r.t.mark(r.t.off0 + start)
		var v any
		if err := r.dec.Decode(&v); err != nil {
			r.done = true
			return Row{}, r.syntaxAt(err, start)
		}
		line, col := r.t.pos(r.t.off0 + start)
		r.t.mark(r.t.off0 + r.dec.InputOffset())
		m, ok := v.(map[string]any)
		if !ok {
			return Row{}, &Error{Path: r.path, Line: line, Column: col, Msg: "expected a JSON object per record, got " + jsonType(v)}
		}
		if r.object {
			m["_split"] = r.key
		}
		return Row{Line: line, Fields: m}, nil
	}
}

// elemStart returns the decoder offset of the first byte of the next
// element: off points at the comma or whitespace before it, and ahead holds
// the decoder's buffered bytes from off.
func elemStart(off int64, ahead []byte) int64 {
	for _, c := range ahead {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != ',' {
			break
		}
		off++
	}
	return off
}

func (r *jsonReader) nextColumnar() (Row, error) {
	m := make(map[string]any, len(r.cols))
	more := 0
	for _, c := range r.cols {
		if c.dec.More() {
			more++
		}
	}
	if more == 0 {
		r.done = true
		return Row{}, io.EOF
	}
	r.row++
	if more != len(r.cols) {
		r.done = true
		return Row{}, &Error{Path: r.path, Msg: fmt.Sprintf("columnar JSON: columns have different lengths (row %d)", r.row), Fatal: true}
	}
	for _, c := range r.cols {
		var v any
		if err := c.dec.Decode(&v); err != nil {
			r.done = true
			return Row{}, &Error{Path: r.path, Msg: fmt.Sprintf("columnar JSON: column %q, element %d: %v", c.name, r.row, jsonErr(err)), Fatal: true}
		}
		m[c.name] = v
	}
	return Row{Line: r.row, Fields: m}, nil
}
