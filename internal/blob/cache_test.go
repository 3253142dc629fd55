package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/blob/fsblob"
)

// remote hides fsblob's local-file shortcuts, as an S3 store has none, and
// counts the objects opened.
type remote struct {
	blob.Store
	opens atomic.Int64
}

func (r *remote) Open(ctx context.Context, key string) (blob.Object, error) {
	r.opens.Add(1)
	return r.Store.Open(ctx, key)
}

func newRemote(t *testing.T) *remote {
	s, err := fsblob.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &remote{Store: s}
}

func TestCacheMaterializeAndReuse(t *testing.T) {
	ctx := context.Background()
	s := newRemote(t)
	data := bytes.Repeat([]byte("weights "), 10_000)
	for _, k := range []string{"jobs/j1/n/model/a.bin", "jobs/j1/n/model/sub/b.json", "jobs/j2/n/model/a.bin"} {
		if _, err := s.Put(ctx, k, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := blob.NewCache(s, filepath.Join(t.TempDir(), "cache"), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir()
	dir, err := c.Materialize(ctx, "jobs/j1/n/model/", filepath.Join(scratch, "in1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a.bin", "sub/b.json"} {
		if got, err := os.ReadFile(filepath.Join(dir, f)); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %d bytes, %v", f, len(got), err)
		}
	}
	// Three objects of one content: downloaded once.
	if n := s.opens.Load(); n != 1 {
		t.Errorf("opened %d objects for 2 files of one content, want 1", n)
	}
	if _, err := c.Materialize(ctx, "jobs/j2/n/model/a.bin", filepath.Join(scratch, "in2", "a.bin")); err != nil {
		t.Fatal(err)
	}
	if n := s.opens.Load(); n != 1 {
		t.Errorf("opened %d objects after a cache hit, want 1", n)
	}
	if c.Size() != int64(len(data)) {
		t.Errorf("cache holds %d bytes, want %d", c.Size(), len(data))
	}
	// Inputs are read-only links.
	if err := os.WriteFile(filepath.Join(dir, "a.bin"), []byte("x"), 0o644); err == nil && os.Geteuid() != 0 {
		t.Error("an input could be overwritten")
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	s := newRemote(t)
	for i, k := range []string{"a", "b", "c"} {
		if _, err := s.Put(ctx, k, strings.NewReader(strings.Repeat(k, 1000+i))); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := blob.NewCache(s, filepath.Join(t.TempDir(), "cache"), 2500)
	scratch := t.TempDir()
	for _, k := range []string{"a", "b", "c"} {
		if _, err := c.Materialize(ctx, k, filepath.Join(scratch, k)); err != nil {
			t.Fatal(err)
		}
		if c.Size() > 2500 {
			t.Fatalf("cache holds %d bytes, over its 2500", c.Size())
		}
	}
	// a was evicted (least recently used) but its link in scratch stays whole.
	if got, _ := os.ReadFile(filepath.Join(scratch, "a")); len(got) != 1000 {
		t.Errorf("evicted input lost: %d bytes", len(got))
	}
	before := s.opens.Load()
	c.Materialize(ctx, "c", filepath.Join(scratch, "c2"))
	if s.opens.Load() != before {
		t.Error("the most recent entry was evicted")
	}
	c.Materialize(ctx, "a", filepath.Join(scratch, "a2"))
	if s.opens.Load() != before+1 {
		t.Error("the evicted entry was not downloaded again")
	}
}

// corrupt returns other bytes than the store's SHA-256 says.
type corrupt struct{ blob.Store }

type badObject struct {
	blob.Object
	r io.Reader
}

func (b badObject) Read(p []byte) (int, error) { return b.r.Read(p) }

func (c corrupt) Open(ctx context.Context, key string) (blob.Object, error) {
	o, err := c.Store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return badObject{o, strings.NewReader(strings.Repeat("y", int(o.Info().Size)))}, nil
}

func TestDownloadChecksChecksum(t *testing.T) {
	ctx := context.Background()
	s := newRemote(t)
	s.Put(ctx, "k", strings.NewReader("the real content"))
	dst := filepath.Join(t.TempDir(), "out", "k")
	if _, err := blob.Download(ctx, corrupt{s}, "k", dst); !errors.Is(err, blob.ErrChecksum) {
		t.Fatalf("corrupt download: %v, want ErrChecksum", err)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("a corrupt download left %s behind", dst)
	}
	info, err := blob.Download(ctx, s, "k", dst)
	if err != nil || info.Size != 16 {
		t.Fatalf("download: %+v, %v", info, err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "the real content" {
		t.Errorf("downloaded %q", b)
	}
}

// TestCacheMaterializeOnly: with only, a folder gets just the files named
// that are present, and only those are downloaded; none present is
// ErrNotFound naming them.
func TestCacheMaterializeOnly(t *testing.T) {
	ctx := context.Background()
	s := newRemote(t)
	for k, v := range map[string]string{"m/tokenizer.json": "{}", "m/model.safetensors": "weights", "m/sub/tokenizer.json": "deep"} {
		if _, err := s.Put(ctx, k, strings.NewReader(v)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := blob.NewCache(s, filepath.Join(t.TempDir(), "cache"), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "tok")
	dir, err := c.Materialize(ctx, "m/", dst, "tokenizer.json", "tokenizer.model")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	if strings.Join(got, ",") != "tokenizer.json" || s.opens.Load() != 1 {
		t.Fatalf("placed %v with %d downloads, want [tokenizer.json] with 1", got, s.opens.Load())
	}
	_, err = c.Materialize(ctx, "m/", t.TempDir(), "vocab.json")
	if !errors.Is(err, blob.ErrNotFound) || !strings.Contains(err.Error(), "vocab.json") {
		t.Fatalf("only absent files: %v, want ErrNotFound naming vocab.json", err)
	}
}
