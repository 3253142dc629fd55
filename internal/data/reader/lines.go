package reader

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// jsonlReader reads one JSON object per line.
type jsonlReader struct {
	base
	max  int
	line int
	buf  []byte
}

func (r *jsonlReader) Next() (Row, error) {
	for {
		l, tooLong, err := readLine(r.br, &r.buf, r.max)
		if err != nil {
			if err == io.EOF {
				return Row{}, io.EOF
			}
			return Row{}, r.errf(r.line+1, 0, true, "read: %v", err)
		}
		r.line++
		if tooLong {
			return Row{}, r.errf(r.line, 0, false, "line longer than %d bytes", r.max)
		}
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		if col, msg := checkText(l); col > 0 {
			return Row{}, r.errf(r.line, col, false, "%s", msg)
		}
		if i := bytes.Index(l, bom); i >= 0 {
			return Row{}, r.errf(r.line, i+1, false, "byte order mark (U+FEFF) inside the file (concatenated files?)")
		}
		fields, col, err := decodeObject(l)
		if err != nil {
			return Row{}, r.errf(r.line, col, false, "%v", err)
		}
		return Row{Line: r.line, Fields: fields}, nil
	}
}

// decodeObject parses b as one JSON object, returning the 1-based column of
// a syntax error.
func decodeObject(b []byte) (map[string]any, int, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		col := 0
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			col = int(se.Offset)
		case errors.As(err, &te):
			col = int(te.Offset)
		}
		return nil, col, jsonErr(err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, 1, errors.New("malformed JSON: expected an object per line, got " + jsonType(v))
	}
	return m, 0, nil
}

func jsonErr(err error) error {
	msg := err.Error()
	if !strings.HasPrefix(msg, "json:") {
		msg = "malformed JSON: " + msg
	} else {
		msg = "malformed JSON:" + strings.TrimPrefix(msg, "json:")
	}
	return errors.New(msg)
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	}
	return "an object"
}

// textReader reads plain text, one record per line, paragraph or file.
type textReader struct {
	base
	split string
	max   int
	line  int
	buf   []byte
	par   strings.Builder
	done  bool
}

func (r *textReader) Next() (Row, error) {
	if r.done {
		return Row{}, io.EOF
	}
	start := 0
	r.par.Reset()
	for {
		l, tooLong, err := readLine(r.br, &r.buf, r.max)
		if err == io.EOF {
			if r.split != "line" && r.par.Len() > 0 {
				r.done = true
				return Row{Line: start, Fields: map[string]any{"text": r.par.String()}}, nil
			}
			return Row{}, io.EOF
		}
		if err != nil {
			return Row{}, r.errf(r.line+1, 0, true, "read: %v", err)
		}
		r.line++
		if tooLong {
			r.par.Reset()
			return Row{}, r.errf(r.line, 0, false, "line longer than %d bytes", r.max)
		}
		if col, msg := checkText(l); col > 0 {
			r.par.Reset()
			return Row{}, r.errf(r.line, col, false, "%s", msg)
		}
		blank := len(bytes.TrimSpace(l)) == 0
		switch r.split {
		case "line":
			if blank {
				continue
			}
			return Row{Line: r.line, Fields: map[string]any{"text": string(l)}}, nil
		case "paragraph":
			if blank {
				if r.par.Len() > 0 {
					return Row{Line: start, Fields: map[string]any{"text": r.par.String()}}, nil
				}
				continue
			}
		}
		if r.par.Len() == 0 {
			start = r.line
		} else {
			r.par.WriteByte('\n')
		}
		if r.par.Len()+len(l) > r.max {
			r.done = true
			return Row{}, r.errf(start, 0, true, "record longer than %d bytes", r.max)
		}
		r.par.Write(l)
	}
}
