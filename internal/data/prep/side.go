package prep

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// sideFile holds, for each row written to the rows file, its source line
// and n-gram hashes (for decontaminating the split), in an unlinked
// temporary file.
type sideFile struct {
	f   *os.File
	w   *bufio.Writer
	r   *bufio.Reader
	buf []uint64
}

func newSideFile(dir string) (*sideFile, error) {
	f, err := os.CreateTemp(dir, "ngrams-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return &sideFile{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (s *sideFile) write(line int, grams []uint64) error {
	var b [2 * binary.MaxVarintLen64]byte
	n := binary.PutUvarint(b[:], uint64(line))
	n += binary.PutUvarint(b[n:], uint64(len(grams)))
	if _, err := s.w.Write(b[:n]); err != nil {
		return err
	}
	var g [8]byte
	for _, h := range grams {
		binary.LittleEndian.PutUint64(g[:], h)
		if _, err := s.w.Write(g[:]); err != nil {
			return err
		}
	}
	return nil
}

// rewind readies the file for reading from the start.
func (s *sideFile) rewind() error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	s.r = bufio.NewReaderSize(s.f, 1<<20)
	return nil
}

// next reads the next row's source line and n-grams (valid until the next
// call).
func (s *sideFile) next() (int, []uint64, error) {
	line, err := binary.ReadUvarint(s.r)
	if err != nil {
		return 0, nil, fmt.Errorf("split n-grams: %w", err)
	}
	n, err := binary.ReadUvarint(s.r)
	if err != nil {
		return 0, nil, fmt.Errorf("split n-grams: %w", err)
	}
	s.buf = s.buf[:0]
	var g [8]byte
	for range n {
		if _, err := io.ReadFull(s.r, g[:]); err != nil {
			return 0, nil, fmt.Errorf("split n-grams: %w", err)
		}
		s.buf = append(s.buf, binary.LittleEndian.Uint64(g[:]))
	}
	return int(line), s.buf, nil
}

// each calls fn with each row's index, source line and n-grams, from the
// start.
func (s *sideFile) each(fn func(i, line int, grams []uint64)) error {
	if err := s.rewind(); err != nil {
		return err
	}
	for i := 0; ; i++ {
		if _, err := s.r.Peek(1); err == io.EOF {
			return nil
		}
		line, grams, err := s.next()
		if err != nil {
			return err
		}
		fn(i, line, grams)
	}
}

func (s *sideFile) close() {
	if s != nil && s.f != nil {
		s.f.Close()
		s.f = nil
	}
}
