package reader

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// csvReader reads delimited text with a header row.
type csvReader struct {
	base
	cr     *csv.Reader
	header []string
}

func newCSV(b base, tab bool, opts Options) (Reader, error) {
	cr := csv.NewReader(b.br)
	if tab {
		cr.Comma = '\t'
		cr.LazyQuotes = true
	}
	cr.ReuseRecord = true
	r := &csvReader{base: b, cr: cr}
	head, err := cr.Read()
	if err != nil {
		b.Close()
		if err == io.EOF {
			return nil, &Error{Path: b.path, Line: 1, Msg: "empty file: no header row", Fatal: true}
		}
		return nil, r.wrap(err, true)
	}
	seen := map[string]bool{}
	for i, h := range head {
		h = strings.TrimSpace(h)
		if col, msg := checkText([]byte(h)); col > 0 {
			b.Close()
			return nil, &Error{Path: b.path, Line: 1, Column: col, Msg: "header: " + msg, Fatal: true}
		}
		if h == "" {
			h = fmt.Sprintf("column_%d", i+1)
		}
		if seen[h] {
			b.Close()
			return nil, &Error{Path: b.path, Line: 1, Msg: fmt.Sprintf("header: duplicate column %q", h), Fatal: true}
		}
		seen[h] = true
		r.header = append(r.header, h)
	}
	cr.FieldsPerRecord = len(head)
	return r, nil
}

func (r *csvReader) wrap(err error, fatal bool) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			fatal = false
			msg = fmt.Sprintf("ragged row: %v (header has %d columns)", pe.Err, len(r.header))
		}
		return &Error{Path: r.path, Line: pe.Line, Column: pe.Column, Msg: msg, Fatal: fatal}
	}
	return &Error{Path: r.path, Msg: err.Error(), Fatal: true}
}

func (r *csvReader) Next() (Row, error) {
	rec, err := r.cr.Read()
	if err == io.EOF {
		return Row{}, io.EOF
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
			return Row{}, r.wrap(err, false)
		}
		// A quoting error leaves the reader at an unknown place in the
		// stream: stop.
		return Row{}, r.wrap(err, true)
	}
	line, _ := r.cr.FieldPos(0)
	m := make(map[string]any, len(r.header))
	for i, v := range rec {
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			l, c := r.cr.FieldPos(i)
			col, msg := checkText([]byte(v))
			return Row{}, &Error{Path: r.path, Line: l, Column: c + col - 1, Msg: fmt.Sprintf("column %q: %s", r.header[i], msg)}
		}
		m[r.header[i]] = v
	}
	return Row{Line: line, Fields: m}, nil
}
