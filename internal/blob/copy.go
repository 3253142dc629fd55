package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrChecksum is returned when a downloaded object's SHA-256 differs from
// the one stored with it.
var ErrChecksum = errors.New("blob checksum mismatch")

// Download copies the object at key to the local file dst, the one way
// Whetstone copies a blob to disk: streamed (never whole in memory), its
// SHA-256 checked against the stored one, written to a temporary file beside
// dst and renamed, so dst is the whole object or absent.
func Download(ctx context.Context, s Store, key, dst string) (Info, error) {
	o, err := s.Open(ctx, key)
	if err != nil {
		return Info{}, err
	}
	defer o.Close()
	info := o.Info()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return Info{}, fmt.Errorf("download %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".dl-*")
	if err != nil {
		return Info{}, fmt.Errorf("download %s: %w", key, err)
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, o})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Info{}, fmt.Errorf("download %s: %w", key, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if n != info.Size || (info.SHA256 != "" && sum != info.SHA256) {
		return Info{}, fmt.Errorf("download %s: %w: got %d bytes sha256 %s, stored %d bytes sha256 %s", key, ErrChecksum, n, sum, info.Size, info.SHA256)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return Info{}, fmt.Errorf("download %s: %w", key, err)
	}
	info.Size, info.SHA256 = n, sum
	return info, nil
}

// DownloadDir copies every object under prefix (a folder key ending in "/")
// into dir, keeping the relative paths.
func DownloadDir(ctx context.Context, s Store, prefix, dir string) ([]Info, error) {
	if !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("download %s: %w: a folder key ends in /", prefix, ErrInvalidKey)
	}
	list, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(list))
	for _, i := range list {
		info, err := Download(ctx, s, i.Key, filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(i.Key, prefix))))
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// PutFile stores the local file path under key. With move, a store that can
// take the file over (FileImporter: a rename on one file system) does, and
// path is gone afterwards; otherwise the file is streamed and left alone.
func PutFile(ctx context.Context, s Store, key, path string, move bool) (Info, error) {
	if imp, ok := s.(FileImporter); ok && move {
		return imp.ImportFile(ctx, key, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("put %s: %w", key, err)
	}
	defer f.Close()
	return s.Put(ctx, key, f)
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
