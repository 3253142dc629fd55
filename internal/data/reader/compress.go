package reader

import (
	"compress/gzip"
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

// decompressed closes the decompressor and the file.
type decompressed struct {
	io.Reader
	close func()
	f     *os.File
}

func (d *decompressed) Close() error {
	d.close()
	return d.f.Close()
}

// decompress wraps f in a streaming decompressor. Offsets then count
// decompressed bytes.
func decompress(kind string, f *os.File) (io.ReadCloser, error) {
	switch kind {
	case "gzip":
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		return &decompressed{Reader: zr, close: func() { zr.Close() }, f: f}, nil
	default:
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, err
		}
		return &decompressed{Reader: zr, close: zr.Close, f: f}, nil
	}
}
