// Package dataset reads the records of a Dataset artifact as a stream: the
// canonical JSONL written by the dataset agent (fast path, format from the
// artifact's Meta), or any file the reader package reads, whose format is
// then detected from its first rows.
package dataset

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/data/format"
	"github.com/whetstone/whetstone/internal/data/reader"
	"github.com/whetstone/whetstone/internal/data/record"
)

// Stream yields records.
type Stream struct {
	path   string
	format record.Format
	size   int64
	row    int // records returned so far

	// canonical JSONL
	f    *os.File
	cr   *countingReader
	br   *bufio.Reader
	buf  []byte
	line int

	// any other file
	rd      reader.Reader
	pending []pendingRow // read ahead for detection
}

type pendingRow struct {
	row reader.Row
	err error // a non-fatal read error
}

// File returns the data file of a Dataset artifact: its path, or for a
// folder its data.jsonl or train.jsonl.
func File(a agent.Artifact) (string, error) {
	st, err := os.Stat(a.Path)
	if err != nil {
		return "", fmt.Errorf("dataset input: %w", err)
	}
	if !st.IsDir() {
		return a.Path, nil
	}
	for _, name := range []string{"data.jsonl", "train.jsonl"} {
		p := filepath.Join(a.Path, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("dataset input %s: a folder without data.jsonl or train.jsonl", a.Path)
}

// Open opens a Dataset artifact. Meta "format" selects the canonical fast
// path.
func Open(a agent.Artifact) (*Stream, error) {
	path, err := File(a)
	if err != nil {
		return nil, err
	}
	f, _ := a.Meta["format"].(string)
	return OpenFile(path, record.Format(f))
}

// OpenFile opens path. With a format, path must be canonical JSONL of that
// format; with "", any readable file, format detected.
func OpenFile(path string, f record.Format) (*Stream, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	s := &Stream{path: path, format: f.Canonical(), size: st.Size()}
	if f != "" {
		valid := false
		for _, k := range record.Formats {
			valid = valid || k == f
		}
		if !valid {
			return nil, fmt.Errorf("dataset %s: unknown format %q", path, f)
		}
		file, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		s.f = file
		s.cr = &countingReader{r: file}
		s.br = bufio.NewReaderSize(s.cr, 256<<10)
		return s, nil
	}
	rd, err := reader.Open(path, reader.Options{})
	if err != nil {
		return nil, err
	}
	s.rd = rd
	var sample []map[string]any
	for len(sample) < 100 {
		row, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if reader.IsFatal(err) {
				rd.Close()
				return nil, err
			}
			s.pending = append(s.pending, pendingRow{err: err})
			continue
		}
		s.pending = append(s.pending, pendingRow{row: row})
		sample = append(sample, row.Fields)
	}
	det, err := format.Detect(sample)
	if err != nil {
		rd.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.format = det
	return s, nil
}

// Format returns the records' canonical format (the detected source format
// for non-canonical files; see Record.Format for the canonical one).
func (s *Stream) Format() record.Format { return s.format.Canonical() }

// Row returns the 1-based index of the last record returned.
func (s *Stream) Row() int { return s.row }

// Size returns the file size in bytes.
func (s *Stream) Size() int64 { return s.size }

// Offset returns the bytes consumed.
func (s *Stream) Offset() int64 {
	if s.rd != nil {
		return s.rd.Offset()
	}
	return s.cr.n - int64(s.br.Buffered())
}

// Next decodes the next record into r. It returns io.EOF at the end, a
// non-fatal *reader.Error for an unreadable record (the stream goes on) and
// other errors for failures.
func (s *Stream) Next(r *record.Record) error {
	if s.rd != nil {
		return s.nextGeneric(r)
	}
	for {
		s.buf = s.buf[:0]
		for {
			frag, err := s.br.ReadSlice('\n')
			s.buf = append(s.buf, frag...)
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil && (err != io.EOF || len(s.buf) == 0) {
				return err
			}
			break
		}
		s.line++
		line := s.buf
		for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r' || line[len(line)-1] == ' ') {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			continue
		}
		s.row++
		if err := record.Decode(line, s.format, r); err != nil {
			return &reader.Error{Path: s.path, Line: s.line, Msg: "malformed record: " + err.Error()}
		}
		if r.Line == 0 {
			r.Line = s.line
		}
		return nil
	}
}

func (s *Stream) nextGeneric(r *record.Record) error {
	for {
		var row reader.Row
		if len(s.pending) > 0 {
			p := s.pending[0]
			s.pending = s.pending[1:]
			if p.err != nil {
				s.row++
				return p.err
			}
			row = p.row
		} else {
			var err error
			row, err = s.rd.Next()
			if err != nil {
				var re *reader.Error
				if errors.As(err, &re) && !re.Fatal {
					s.row++
				}
				return err
			}
		}
		s.row++
		rec, err := format.Normalize(s.format, row.Fields, row.Line)
		if err != nil {
			return &reader.Error{Path: s.path, Line: row.Line, Msg: err.Error()}
		}
		*r = rec
		return nil
	}
}

// Close closes the file.
func (s *Stream) Close() error {
	if s.rd != nil {
		return s.rd.Close()
	}
	return s.f.Close()
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
