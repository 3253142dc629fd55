package reader

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// allocated returns the bytes fn allocated on the heap.
func allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestParquetFooterBomb is issue 10's 112-byte Parquet file whose footer
// length is 0xFFFFFFF0: it used to allocate 4 GiB before failing.
func TestParquetFooterBomb(t *testing.T) {
	b := make([]byte, 112)
	copy(b, "PAR1")
	binary.LittleEndian.PutUint32(b[104:], 0xFFFFFFF0)
	copy(b[108:], "PAR1")
	path := filepath.Join(t.TempDir(), "bomb.parquet")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	n := allocated(func() { _, err = Open(path, Options{}) })
	var e *Error
	if !errors.As(err, &e) || !e.Fatal || !strings.Contains(e.Msg, "footer length 4294967280") {
		t.Fatalf("got %v, want a fatal *Error naming the footer length", err)
	}
	if n > 1<<20 {
		t.Errorf("opening allocated %d bytes, want under 1 MiB", n)
	}
}

// writeGzipBomb writes issue 10's bomb: a gzip of about 37 MB that inflates
// to 6 GB of JSONL rows (one compressed member repeated; gzip readers read
// concatenated members as one stream).
func writeGzipBomb(t testing.TB, path string) (compressed, inflated int64) {
	r := rand.New(rand.NewSource(1))
	var u bytes.Buffer
	pad := strings.Repeat("a", 1250)
	for u.Len() < 1<<20 {
		k := make([]byte, 4)
		for i := range k {
			k[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[r.Intn(36)]
		}
		fmt.Fprintf(&u, "{\"instruction\": \"%s%s\", \"output\": \"ok\"}\n", k, pad)
	}
	var c bytes.Buffer
	w, _ := gzip.NewWriterLevel(&c, gzip.BestCompression)
	w.Write(u.Bytes())
	w.Close()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for inflated < 6e9 {
		if _, err := f.Write(c.Bytes()); err != nil {
			t.Fatal(err)
		}
		compressed += int64(c.Len())
		inflated += int64(u.Len())
	}
	return compressed, inflated
}

// TestGzipBomb reads issue 10's gzip bomb: the reader stops at the ratio
// limit after a few MB instead of ingesting 6 GB.
func TestGzipBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 37 MB file")
	}
	path := filepath.Join(t.TempDir(), "bomb.jsonl.gz")
	c, u := writeGzipBomb(t, path)
	t.Logf("bomb: %d bytes inflating to %d", c, u)
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rows := 0
	for {
		_, err = r.Next()
		if err == io.EOF {
			t.Fatalf("read the whole bomb (%d rows)", rows)
		}
		if IsFatal(err) {
			break
		}
		rows++
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "over the 100:1 limit") || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v, want the ratio limit", err)
	}
	if off := r.Offset(); off > 64<<20 {
		t.Errorf("read %d bytes before stopping, want under 64 MiB", off)
	}
}

func TestDecompressedSizeLimit(t *testing.T) {
	var c bytes.Buffer
	w := gzip.NewWriter(&c)
	for i := range 1000 {
		fmt.Fprintf(w, "{\"text\": \"row %d\"}\n", i)
	}
	w.Close()
	path := filepath.Join(t.TempDir(), "d.jsonl.gz")
	os.WriteFile(path, c.Bytes(), 0o644)
	for _, tc := range []struct {
		max  int64
		rows int
		err  bool
	}{{0, 1000, false}, {1 << 20, 1000, false}, {4096, 0, true}} {
		r, err := Open(path, Options{MaxDecompressedBytes: tc.max})
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		for {
			_, err = r.Next()
			if err == io.EOF || IsFatal(err) {
				break
			}
			rows++
		}
		r.Close()
		if tc.err != (err != io.EOF) {
			t.Errorf("max %d: err %v, want error %v", tc.max, err, tc.err)
		}
		if !tc.err && rows != tc.rows {
			t.Errorf("max %d: %d rows, want %d", tc.max, rows, tc.rows)
		}
		if tc.err && !strings.Contains(err.Error(), "inflates past 4096 bytes") {
			t.Errorf("max %d: %v", tc.max, err)
		}
	}
}
