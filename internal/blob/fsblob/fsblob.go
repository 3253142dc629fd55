// Package fsblob is a blob.Store in a local folder. Writes go to a temporary
// file in the same folder tree, are fsynced and renamed into place, so
// readers never see a partial object. Each object's SHA-256 is kept in a
// sidecar under ROOT/.whet-sums.
package fsblob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/blob"
)

const (
	sumsDir = ".whet-sums"
	tmpDir  = ".whet-tmp"
)

// Store is a blob.Store rooted at a folder.
type Store struct {
	root string
}

var (
	_ blob.Store        = (*Store)(nil)
	_ blob.Localizer    = (*Store)(nil)
	_ blob.FileImporter = (*Store)(nil)
)

// Open returns a store rooted at dir, creating it.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fsblob: %w", err)
	}
	for _, d := range []string{abs, filepath.Join(abs, sumsDir), filepath.Join(abs, tmpDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("fsblob: %w", err)
		}
	}
	// Temporary files of writes that a killed process left behind.
	if entries, err := os.ReadDir(filepath.Join(abs, tmpDir)); err == nil {
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
				os.Remove(filepath.Join(abs, tmpDir, e.Name()))
			}
		}
	}
	return &Store{root: abs}, nil
}

// Root returns the store's folder.
func (s *Store) Root() string { return s.root }

func (s *Store) path(key string) (string, error) {
	if err := blob.ValidKey(key); err != nil {
		return "", err
	}
	p := filepath.Join(s.root, filepath.FromSlash(key))
	if !strings.HasPrefix(p, s.root+string(filepath.Separator)) {
		return "", fmt.Errorf("%w %q: escapes the root", blob.ErrInvalidKey, key)
	}
	return p, nil
}

func (s *Store) sumPath(key string) string {
	return filepath.Join(s.root, sumsDir, filepath.FromSlash(key)+".sha256")
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (blob.Info, error) {
	p, err := s.path(key)
	if err != nil {
		return blob.Info{}, err
	}
	f, err := os.CreateTemp(filepath.Join(s.root, tmpDir), "put-*")
	if err != nil {
		return blob.Info{}, fmt.Errorf("fsblob put %s: %w", key, err)
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("fsblob put %s: %w", key, err)
	}
	return s.commit(key, p, f.Name(), n, hex.EncodeToString(h.Sum(nil)))
}

func (s *Store) commit(key, p, tmp string, n int64, sum string) (blob.Info, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return blob.Info{}, fmt.Errorf("fsblob put %s: %w", key, err)
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return blob.Info{}, fmt.Errorf("fsblob put %s: %w: a folder of objects has this key", key, blob.ErrInvalidKey)
	}
	sp := s.sumPath(key)
	if err := os.MkdirAll(filepath.Dir(sp), 0o755); err != nil {
		return blob.Info{}, fmt.Errorf("fsblob put %s: %w", key, err)
	}
	if err := os.WriteFile(sp+".tmp", []byte(sum), 0o644); err != nil {
		return blob.Info{}, fmt.Errorf("fsblob put %s: %w", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return blob.Info{}, fmt.Errorf("fsblob put %s: %w", key, err)
	}
	if err := os.Rename(sp+".tmp", sp); err != nil {
		return blob.Info{}, fmt.Errorf("fsblob put %s: %w", key, err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return blob.Info{}, fmt.Errorf("fsblob put %s: %w", key, err)
	}
	return blob.Info{Key: key, Size: n, SHA256: sum, ModTime: fi.ModTime()}, nil
}

// ImportFile implements blob.FileImporter: it hashes path, then renames it
// into place (copying when the rename crosses file systems).
func (s *Store) ImportFile(ctx context.Context, key, path string) (blob.Info, error) {
	p, err := s.path(key)
	if err != nil {
		return blob.Info{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return blob.Info{}, fmt.Errorf("fsblob import %s: %w", key, err)
	}
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	f.Close()
	if err != nil {
		return blob.Info{}, fmt.Errorf("fsblob import %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Join(s.root, tmpDir), "imp-*")
	if err != nil {
		return blob.Info{}, fmt.Errorf("fsblob import %s: %w", key, err)
	}
	tmp.Close()
	if err := os.Rename(path, tmp.Name()); err != nil {
		os.Remove(tmp.Name())
		f, err := os.Open(path)
		if err != nil {
			return blob.Info{}, fmt.Errorf("fsblob import %s: %w", key, err)
		}
		defer f.Close()
		return s.Put(ctx, key, f)
	}
	info, err := s.commit(key, p, tmp.Name(), n, hex.EncodeToString(h.Sum(nil)))
	if err != nil {
		os.Remove(tmp.Name())
	}
	return info, err
}

type object struct {
	*os.File
	info blob.Info
}

func (o *object) Info() blob.Info { return o.info }

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, key string) (blob.Object, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("fsblob open %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("fsblob open %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("fsblob open %s: %w", key, blob.ErrNotFound)
	}
	sum, _ := os.ReadFile(s.sumPath(key))
	return &object{File: f, info: blob.Info{Key: key, Size: fi.Size(), SHA256: string(sum), ModTime: fi.ModTime()}}, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	p, err := s.path(key)
	if err != nil {
		return blob.Info{}, err
	}
	fi, err := os.Stat(p)
	if err != nil || fi.IsDir() {
		return blob.Info{}, fmt.Errorf("fsblob stat %s: %w", key, blob.ErrNotFound)
	}
	sum, _ := os.ReadFile(s.sumPath(key))
	return blob.Info{Key: key, Size: fi.Size(), SHA256: string(sum), ModTime: fi.ModTime()}, nil
}

// List implements blob.Store.
func (s *Store) List(ctx context.Context, prefix string) ([]blob.Info, error) {
	if err := blob.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	// Walk the deepest folder the prefix names.
	dir := s.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dir = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	var out []blob.Info
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(s.root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == sumsDir || rel == tmpDir {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(rel, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		sum, _ := os.ReadFile(s.sumPath(rel))
		out = append(out, blob.Info{Key: rel, Size: fi.Size(), SHA256: string(sum), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fsblob list %s: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fsblob delete %s: %w", key, err)
	}
	os.Remove(s.sumPath(key))
	return nil
}

// Ping implements blob.Store: the root must be a writable folder.
func (s *Store) Ping(ctx context.Context) error {
	f, err := os.CreateTemp(filepath.Join(s.root, tmpDir), "ping-*")
	if err != nil {
		return fmt.Errorf("fsblob ping: %w", err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// LocalPath implements blob.Localizer. A key ending in "/" names a folder.
func (s *Store) LocalPath(key string) (string, error) {
	if err := blob.ValidPrefix(key); err != nil || key == "" {
		return "", fmt.Errorf("fsblob: %w %q", blob.ErrInvalidKey, key)
	}
	p, err := s.path(strings.TrimSuffix(key, "/"))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("fsblob %s: %w", key, blob.ErrNotFound)
	}
	return p, nil
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
