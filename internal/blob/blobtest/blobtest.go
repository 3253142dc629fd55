// Package blobtest is the contract every blob.Store must pass.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/whetstone/whetstone/internal/blob"
)

// Run checks what every blob.Store must do. open returns a fresh, empty store.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	ctx := context.Background()
	t.Run("PutOpenStat", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		data := bytes.Repeat([]byte("whetstone "), 100_000)
		sum := sha256.Sum256(data)
		info, err := s.Put(ctx, "a/b/c.bin", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != int64(len(data)) || info.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("Put info = %+v, want size %d sha %x", info, len(data), sum)
		}
		o, err := s.Open(ctx, "a/b/c.bin")
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if _, err := o.Seek(10, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(o)
		if !bytes.Equal(got, data[10:]) {
			t.Errorf("read after seek: %d bytes, want %d", len(got), len(data)-10)
		}
		st, err := s.Stat(ctx, "a/b/c.bin")
		if err != nil || st.Size != info.Size || st.SHA256 != info.SHA256 {
			t.Errorf("Stat = %+v, %v; want %+v", st, err, info)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if _, err := s.Open(ctx, "missing"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Open missing: %v, want ErrNotFound", err)
		}
		if _, err := s.Stat(ctx, "x/missing"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat missing: %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "missing"); err != nil {
			t.Errorf("Delete missing: %v", err)
		}
	})
	t.Run("InvalidKeys", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for _, k := range []string{"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", `a\..\b`, "a/..", "..", ".whet-sums/x", "c:x", "a\x00b"} {
			if _, err := s.Put(ctx, k, strings.NewReader("x")); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("Put(%q) = %v, want ErrInvalidKey", k, err)
			}
			if _, err := s.Open(ctx, k); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("Open(%q) = %v, want ErrInvalidKey", k, err)
			}
		}
	})
	t.Run("ListAndDelete", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for _, k := range []string{"m/1/a", "m/1/sub/b", "m/2/a", "n"} {
			if _, err := s.Put(ctx, k, strings.NewReader(k)); err != nil {
				t.Fatal(err)
			}
		}
		l, err := s.List(ctx, "m/1/")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, i := range l {
			keys = append(keys, i.Key)
		}
		if strings.Join(keys, ",") != "m/1/a,m/1/sub/b" {
			t.Errorf("List(m/1/) = %v", keys)
		}
		if err := s.Delete(ctx, "m/1/a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, "m/1/a"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat after Delete: %v", err)
		}
	})
	t.Run("AtomicOverwrite", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		a := bytes.Repeat([]byte{'a'}, 1<<20)
		b := bytes.Repeat([]byte{'b'}, 1<<20)
		if _, err := s.Put(ctx, "k", bytes.NewReader(a)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				s.Put(ctx, "k", bytes.NewReader(b))
				s.Put(ctx, "k", bytes.NewReader(a))
			}
		}()
		for range 50 {
			o, err := s.Open(ctx, "k")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(o)
			o.Close()
			if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
				t.Fatalf("read a mixed or partial object (%d bytes)", len(got))
			}
		}
		wg.Wait()
	})
	t.Run("FailedPutKeepsOld", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if _, err := s.Put(ctx, "k", strings.NewReader("old")); err != nil {
			t.Fatal(err)
		}
		r := io.MultiReader(strings.NewReader("new..."), errReader{})
		if _, err := s.Put(ctx, "k", r); err == nil {
			t.Fatal("Put from a failing reader succeeded")
		}
		o, err := s.Open(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(o)
		o.Close()
		if string(got) != "old" {
			t.Errorf("after failed Put: %q, want old", got)
		}
	})
	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		if err := open(t).Ping(ctx); err != nil {
			t.Error(err)
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }
