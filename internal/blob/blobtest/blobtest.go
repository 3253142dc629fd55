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
	t.Run("LargeStreamAndRanges", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		// 12 MiB + 3 bytes from a reader of unknown length: several parts
		// on S3 with 5 MiB parts, never held whole by the caller.
		const size = 12<<20 + 3
		h := sha256.New()
		info, err := s.Put(ctx, "big/obj.bin", io.TeeReader(io.LimitReader(&pattern{}, size), h))
		if err != nil {
			t.Fatal(err)
		}
		want := hex.EncodeToString(h.Sum(nil))
		if info.Size != size || info.SHA256 != want {
			t.Fatalf("Put = %+v, want size %d sha %s", info, size, want)
		}
		if st, err := s.Stat(ctx, "big/obj.bin"); err != nil || st.SHA256 != want || st.Size != size {
			t.Fatalf("Stat = %+v, %v", st, err)
		}
		o, err := s.Open(ctx, "big/obj.bin")
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if o.Info().SHA256 != want || o.Info().Size != size {
			t.Errorf("Open info = %+v", o.Info())
		}
		// Ranges as http.ServeContent asks for them: size by SeekEnd, then
		// back to an offset, across a part boundary, then near the end.
		if end, err := o.Seek(0, io.SeekEnd); err != nil || end != size {
			t.Fatalf("SeekEnd = %d, %v", end, err)
		}
		for _, r := range [][2]int64{{5<<20 - 10, 20}, {0, 7}, {size - 5, 5}, {1234567, 4096}} {
			if _, err := o.Seek(r[0], io.SeekStart); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, r[1])
			if _, err := io.ReadFull(o, got); err != nil {
				t.Fatalf("read %d bytes at %d: %v", r[1], r[0], err)
			}
			exp := make([]byte, r[1])
			(&pattern{off: r[0]}).Read(exp)
			if !bytes.Equal(got, exp) {
				t.Errorf("range [%d,+%d) differs", r[0], r[1])
			}
		}
		if _, err := o.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		h2 := sha256.New()
		if n, err := io.Copy(h2, o); err != nil || n != size || hex.EncodeToString(h2.Sum(nil)) != want {
			t.Errorf("whole read: %d bytes, %v, sha matches %v", n, err, hex.EncodeToString(h2.Sum(nil)) == want)
		}
	})
	t.Run("ListIsSortedAndExact", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		keys := []string{"p/b", "p/a/z", "p/a/y", "pq", "p/c.txt"}
		for _, k := range keys {
			if _, err := s.Put(ctx, k, strings.NewReader(k)); err != nil {
				t.Fatal(err)
			}
		}
		l, err := s.List(ctx, "p/")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, i := range l {
			got = append(got, i.Key)
			if i.Size != int64(len(i.Key)) {
				t.Errorf("List size of %s = %d", i.Key, i.Size)
			}
		}
		if strings.Join(got, ",") != "p/a/y,p/a/z,p/b,p/c.txt" {
			t.Errorf("List(p/) = %v", got)
		}
		all, err := s.List(ctx, "")
		if err != nil || len(all) != len(keys) {
			t.Errorf("List() = %d objects, %v; want %d", len(all), err, len(keys))
		}
	})
	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		if err := open(t).Ping(ctx); err != nil {
			t.Error(err)
		}
	})
}

// pattern is an endless deterministic byte stream; off is its position.
type pattern struct{ off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		x := uint64(p.off + int64(i))
		x ^= x >> 7
		x *= 0x9E3779B97F4A7C15
		b[i] = byte(x >> 56)
	}
	p.off += int64(len(b))
	return len(b), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }
