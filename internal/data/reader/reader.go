// Package reader streams rows out of dataset files: CSV, TSV, JSON (an array
// of objects, or an object whose values are arrays of objects), JSONL,
// Parquet and plain text. Every reader holds at most one record (plus a
// bounded read buffer) in memory, so a file of any size is read in bounded
// memory.
//
// Bad input never panics: a record that cannot be read yields an *Error
// naming the file, line and column. Errors with Fatal false concern one
// record and the reader can go on (a malformed JSONL line, a ragged CSV row);
// fatal ones end the stream (a malformed JSON array, a UTF-16 file).
package reader

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Row is one record read from a file.
type Row struct {
	// Line is the 1-based line the record starts on (the row number for
	// Parquet, counting from 1).
	Line int
	// Fields maps column names to values: string, float64, bool, nil,
	// []any or map[string]any (JSON-like).
	Fields map[string]any
}

// Error is a problem with the input at a position.
type Error struct {
	Path   string
	Line   int // 1-based; 0 when unknown
	Column int // 1-based byte column; 0 when unknown
	Msg    string
	// Fatal is true when the reader cannot continue after this error.
	Fatal bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// IsFatal reports whether err ends the stream: any error that is not an
// *Error with Fatal false.
func IsFatal(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Fatal
	}
	return err != nil
}

// Kind is a file type.
type Kind string

// The file types.
const (
	CSV     Kind = "csv"
	TSV     Kind = "tsv"
	JSON    Kind = "json"
	JSONL   Kind = "jsonl"
	Parquet Kind = "parquet"
	Text    Kind = "text"
)

// Options configure Open. The zero value is usable.
type Options struct {
	// Kind forces the file type. Defaults to detection from the extension
	// (.csv, .tsv, .json, .jsonl/.ndjson, .parquet, anything else text),
	// then from the first byte for .json/.jsonl ambiguity.
	Kind Kind
	// TextSplit says what a record is in a text file: "line" (each non-blank
	// line), "paragraph" (blocks separated by blank lines) or "file" (the
	// whole file, subject to MaxRecordBytes). Defaults to "line".
	TextSplit string
	// MaxRecordBytes bounds one record (a line, a JSON value). Defaults to
	// 64 MiB.
	MaxRecordBytes int
	// MaxDecompressedBytes bounds what a .gz or .zst file may inflate to.
	// Defaults to DefaultMaxDecompressedBytes (16 GiB).
	MaxDecompressedBytes int64
	// MaxCompressionRatio bounds decompressed/compressed bytes once more
	// than 16 MiB has been inflated (a decompression bomb inflates
	// hundreds to a thousand times; text compresses about 3-10 times).
	// Defaults to DefaultMaxCompressionRatio (100).
	MaxCompressionRatio int64
}

// Reader yields rows. Next returns io.EOF after the last row.
type Reader interface {
	Next() (Row, error)
	// Offset is the number of bytes consumed so far (for progress).
	Offset() int64
	Close() error
}

// Open opens path for reading rows.
func Open(path string, opts Options) (Reader, error) {
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = 64 << 20
	}
	kind := opts.Kind
	if kind == "" {
		kind = KindOf(path)
	}
	comp := compression(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("open %s: is a folder", path)
	}
	if comp != "" {
		if kind == Parquet {
			f.Close()
			return nil, fmt.Errorf("open %s: compressed Parquet files are not supported (Parquet compresses its pages itself)", path)
		}
		dr, err := decompress(comp, f, opts)
		if err != nil {
			f.Close()
			return nil, &Error{Path: path, Msg: fmt.Sprintf("%s: %v", comp, err), Fatal: true}
		}
		return NewStream(path, dr, kind, opts)
	}
	if kind == Parquet {
		r, err := newParquet(path, f, st.Size())
		if err != nil {
			f.Close()
			return nil, err
		}
		return r, nil
	}
	return NewStream(path, f, kind, opts)
}

// NewStream reads rows of kind from r (any kind but Parquet, which needs
// random access). path is used in errors. Closing the Reader closes r if it
// is an io.Closer.
func NewStream(path string, r io.Reader, kind Kind, opts Options) (Reader, error) {
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = 64 << 20
	}
	cr := &countReader{r: r}
	br := bufio.NewReaderSize(cr, 64<<10)
	head, _ := br.Peek(4)
	if bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}) {
		closeIf(r)
		return nil, &Error{Path: path, Line: 1, Column: 1, Msg: "file is UTF-16 encoded (byte order mark FF FE or FE FF); convert it to UTF-8", Fatal: true}
	}
	if bytes.HasPrefix(head, bom) {
		br.Discard(len(bom))
	}
	if kind == JSON || kind == JSONL {
		kind = sniffJSON(br, kind)
	}
	base := base{path: path, cr: cr, closer: r, br: br}
	switch kind {
	case CSV, TSV:
		return newCSV(base, kind == TSV, opts)
	case JSON:
		return newJSON(base, opts)
	case JSONL:
		return &jsonlReader{base: base, max: opts.MaxRecordBytes}, nil
	case Text, "":
		split := cmpOr(opts.TextSplit, "line")
		if split != "line" && split != "paragraph" && split != "file" {
			closeIf(r)
			return nil, fmt.Errorf("text split %q: want line, paragraph or file", split)
		}
		return &textReader{base: base, split: split, max: opts.MaxRecordBytes}, nil
	}
	closeIf(r)
	return nil, fmt.Errorf("open %s: unknown kind %q", path, kind)
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// KindOf returns the file type implied by path's extension (after a .gz or
// .zst one).
func KindOf(path string) Kind {
	if compression(path) != "" {
		path = strings.TrimSuffix(path, filepath.Ext(path))
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return CSV
	case ".tsv", ".tab":
		return TSV
	case ".json":
		return JSON
	case ".jsonl", ".ndjson":
		return JSONL
	case ".parquet", ".pq":
		return Parquet
	}
	return Text
}

// sniffJSON tells a JSON array/object file from JSONL: a .json file whose
// first object is followed by another on a later line is JSONL, and a .jsonl
// file starting with '[' is a JSON array.
func sniffJSON(br *bufio.Reader, kind Kind) Kind {
	buf, _ := br.Peek(64 << 10)
	t := bytes.TrimLeft(buf, " \t\r\n")
	if len(t) == 0 {
		return kind
	}
	if t[0] == '[' {
		return JSON
	}
	if kind == JSON && t[0] == '{' {
		// One object per line? Look for "}\n{" before the buffer ends.
		if i := bytes.IndexByte(t, '\n'); i > 0 && i < len(t)-1 && bytes.HasSuffix(bytes.TrimRight(t[:i], " \t\r"), []byte("}")) {
			rest := bytes.TrimLeft(t[i:], " \t\r\n")
			if len(rest) > 0 && rest[0] == '{' {
				return JSONL
			}
		}
	}
	return kind
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func closeIf(r any) error {
	if c, ok := r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// base holds what the stream readers share.
type base struct {
	path   string
	cr     *countReader
	closer any
	br     *bufio.Reader
}

func (b *base) Offset() int64 { return b.cr.n - int64(b.br.Buffered()) }
func (b *base) Close() error  { return closeIf(b.closer) }

func (b *base) errf(line, col int, fatal bool, format string, args ...any) *Error {
	return &Error{Path: b.path, Line: line, Column: col, Msg: fmt.Sprintf(format, args...), Fatal: fatal}
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readLine returns the next line without its terminator, and whether it was
// longer than max (then the line is skipped up to its end and nil returned).
// The returned slice is valid until the next call.
func readLine(br *bufio.Reader, buf *[]byte, max int) (line []byte, tooLong bool, err error) {
	*buf = (*buf)[:0]
	for {
		frag, e := br.ReadSlice('\n')
		if !tooLong {
			if len(*buf)+len(frag) > max+2 {
				tooLong = true
				*buf = (*buf)[:0]
			} else {
				*buf = append(*buf, frag...)
			}
		}
		if e == bufio.ErrBufferFull {
			continue
		}
		if e != nil && (e != io.EOF || (len(*buf) == 0 && !tooLong)) {
			return nil, false, e
		}
		break
	}
	if tooLong {
		return nil, true, nil
	}
	l := *buf
	l = bytes.TrimSuffix(l, []byte("\n"))
	l = bytes.TrimSuffix(l, []byte("\r"))
	return l, false, nil
}

// checkText returns the 1-based column of the first NUL byte or invalid
// UTF-8 sequence in b, with a message, or 0.
func checkText(b []byte) (int, string) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		if j := firstInvalid(b[:i]); j >= 0 {
			return j + 1, invalidMsg(b[j:])
		}
		return i + 1, "NUL byte in text (binary file, or UTF-16 without a byte order mark?)"
	}
	if j := firstInvalid(b); j >= 0 {
		return j + 1, invalidMsg(b[j:])
	}
	return 0, ""
}

func firstInvalid(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

func invalidMsg(b []byte) string {
	if bytes.HasPrefix(b, bom) {
		return "byte order mark (U+FEFF) inside the text"
	}
	return fmt.Sprintf("invalid UTF-8 (byte 0x%02X); the file is not UTF-8 (Latin-1 or Windows-1252?)", b[0])
}
