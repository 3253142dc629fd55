package reader

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// compression returns "gzip" or "zstd" for .gz and .zst paths, else "".
func compression(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".gz", ".gzip":
		return "gzip"
	case ".zst", ".zstd":
		return "zstd"
	}
	return ""
}

// Default limits on decompression (Options.MaxDecompressedBytes and
// Options.MaxCompressionRatio).
const (
	DefaultMaxDecompressedBytes = 16 << 30
	DefaultMaxCompressionRatio  = 100
	// ratioGrace is how much output may be inflated before the ratio limit
	// applies, so small highly repetitive files still read.
	ratioGrace = 16 << 20
)

// ErrDecompressionLimit is wrapped by the error a reader returns when a
// compressed file inflates past a limit (a decompression bomb).
var ErrDecompressionLimit = errors.New("decompression limit")

// decompressed closes the decompressor and the file, and stops reading once
// the output passes the size or ratio limit.
type decompressed struct {
	io.Reader
	close    func()
	f        *os.File
	in       *countReader // compressed bytes read
	out      int64
	maxOut   int64
	maxRatio int64
	kind     string
}

func (d *decompressed) Read(p []byte) (int, error) {
	n, err := d.Reader.Read(p)
	d.out += int64(n)
	if d.out > d.maxOut {
		return n, fmt.Errorf("%w: %s data inflates past %d bytes", ErrDecompressionLimit, d.kind, d.maxOut)
	}
	if d.out > ratioGrace && d.in.n > 0 && d.out/d.in.n > d.maxRatio {
		return n, fmt.Errorf("%w: %s data inflates %d:1 (%d bytes from %d), over the %d:1 limit",
			ErrDecompressionLimit, d.kind, d.out/d.in.n, d.out, d.in.n, d.maxRatio)
	}
	return n, err
}

func (d *decompressed) Close() error {
	d.close()
	return d.f.Close()
}

// decompress wraps f in a streaming decompressor. Offsets then count
// decompressed bytes.
// The output is limited by opts.MaxDecompressedBytes and
// opts.MaxCompressionRatio.
func decompress(kind string, f *os.File, opts Options) (io.ReadCloser, error) {
	in := &countReader{r: f}
	d := &decompressed{f: f, in: in, kind: kind,
		maxOut:   cmpOrInt(opts.MaxDecompressedBytes, DefaultMaxDecompressedBytes),
		maxRatio: cmpOrInt(opts.MaxCompressionRatio, DefaultMaxCompressionRatio)}
	switch kind {
	case "gzip":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, err
		}
		d.Reader, d.close = zr, func() { zr.Close() }
	default:
		zr, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, err
		}
		d.Reader, d.close = zr, zr.Close
	}
	return d, nil
}

func cmpOrInt(a, b int64) int64 {
	if a > 0 {
		return a
	}
	return b
}
