package reader

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// parquetReader reads rows of a Parquet file in small batches, as JSON-like
// maps (lists become []any, groups map[string]any).
type parquetReader struct {
	path  string
	f     io.Closer
	r     *parquet.GenericReader[map[string]any]
	batch []map[string]any
	n, i  int
	row   int
	total int64
	size  int64
	eof   bool
}

const parquetBatch = 64

// maxParquetFooter bounds the footer (file metadata) we agree to read: real
// footers are kilobytes to a few megabytes.
const maxParquetFooter = 64 << 20

// checkParquetFooter reads the 8-byte trailer (footer length, "PAR1") and
// refuses a footer longer than the file or than maxParquetFooter before the
// Parquet library allocates a buffer of that length.
func checkParquetFooter(f io.ReaderAt, size int64) error {
	if size < 12 {
		return fmt.Errorf("%d bytes is too short (a Parquet file is at least 12)", size)
	}
	var head, tail [8]byte
	if _, err := f.ReadAt(head[:4], 0); err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		return fmt.Errorf("read footer: %w", err)
	}
	if string(head[:4]) != "PAR1" || string(tail[4:]) != "PAR1" {
		return fmt.Errorf("no PAR1 magic at the start and end (encrypted or not Parquet)")
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > size-12 || n > maxParquetFooter {
		return fmt.Errorf("footer length %d does not fit the file's %d bytes (limit %d)", n, size, int64(maxParquetFooter))
	}
	return nil
}

func newParquet(path string, f interface {
	io.ReaderAt
	io.Closer
}, size int64) (r *parquetReader, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &Error{Path: path, Msg: fmt.Sprintf("malformed Parquet file: %v", p), Fatal: true}
		}
	}()
	if err := checkParquetFooter(f, size); err != nil {
		return nil, &Error{Path: path, Msg: "malformed Parquet file: " + err.Error(), Fatal: true}
	}
	pf, err := parquet.OpenFile(f, size)
	if err != nil {
		return nil, &Error{Path: path, Msg: fmt.Sprintf("malformed Parquet file: %v", err), Fatal: true}
	}
	gr := parquet.NewGenericReader[map[string]any](pf, pf.Schema())
	return &parquetReader{path: path, f: f, r: gr, total: pf.NumRows(), size: size}, nil
}

func (p *parquetReader) Next() (row Row, err error) {
	if p.i >= p.n {
		if p.eof {
			return Row{}, io.EOF
		}
		if err := p.fill(); err != nil {
			return Row{}, err
		}
		if p.n == 0 {
			return Row{}, io.EOF
		}
	}
	m := p.batch[p.i]
	p.batch[p.i] = nil // the caller owns the map now
	p.i++
	p.row++
	return Row{Line: p.row, Fields: m}, nil
}

func (p *parquetReader) fill() (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.eof = true
			err = &Error{Path: p.path, Line: p.row + 1, Msg: fmt.Sprintf("malformed Parquet data: %v", r), Fatal: true}
		}
	}()
	if p.batch == nil {
		p.batch = make([]map[string]any, parquetBatch)
	}
	for i := range p.batch {
		if p.batch[i] == nil {
			p.batch[i] = map[string]any{}
		}
	}
	n, err := p.r.Read(p.batch)
	p.n, p.i = n, 0
	if err == io.EOF {
		p.eof = true
		err = nil
	}
	if err != nil {
		p.eof = true
		return &Error{Path: p.path, Line: p.row + 1, Msg: fmt.Sprintf("read Parquet rows: %v", err), Fatal: true}
	}
	return nil
}

// Offset estimates the bytes consumed from the fraction of rows read.
func (p *parquetReader) Offset() int64 {
	if p.total == 0 {
		return 0
	}
	return int64(float64(p.size) * float64(p.row) / float64(p.total))
}

// NewParquet reads rows from Parquet data in r (size bytes). path is used in
// errors. Closing the Reader does not close r.
func NewParquet(path string, r io.ReaderAt, size int64) (Reader, error) {
	return newParquet(path, nopCloser{r}, size)
}

type nopCloser struct{ io.ReaderAt }

func (nopCloser) Close() error { return nil }

func (p *parquetReader) Close() error {
	p.r.Close()
	return p.f.Close()
}
