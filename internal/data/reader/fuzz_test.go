package reader

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// drain reads r until EOF or a fatal error, checking that every error is an
// *Error with a sane position, and that the reader stops.
func drain(t *testing.T, r Reader) {
	for i := 0; ; i++ {
		if i > 1<<16 {
			t.Fatal("reader does not stop")
		}
		_, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not *Error", err, err)
			}
			if e.Line < 0 || e.Column < 0 {
				t.Fatalf("bad position in %v", e)
			}
			if e.Fatal {
				return
			}
		}
	}
}

func fuzzStream(f *testing.F, kind Kind, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewStream("fuzz", bytes.NewReader(data), kind, Options{MaxRecordBytes: 1 << 16})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("open: %v (%T) is not *Error", err, err)
			}
			return
		}
		defer r.Close()
		drain(t, r)
	})
}

func FuzzJSONL(f *testing.F) {
	fuzzStream(f, JSONL, "{\"a\": 1}\n{\"b\": [1, {\"c\": null}]}\n", "{\"a\": \"caf\xe9\"}\n", "\xef\xbb\xbf{}\n\n{", "[1]\n")
}

func FuzzJSON(f *testing.F) {
	fuzzStream(f, JSON, "[{\"a\": 1}, {\"a\": 2}]", "{\"train\": [{\"a\": 1}], \"test\": []}", "[\n {\"a\": \"x\x00\"}]", "[{\"a\":", "{\"a\": 1}\n{\"a\": 2}\n")
}

func FuzzCSV(f *testing.F) {
	fuzzStream(f, CSV, "a,b\n1,2\n3\n", "a,a\n", "q,\"a\"\n\"x\ny\",z\n", "a\n\"bad\"quote\n")
}

func FuzzTSV(f *testing.F) {
	fuzzStream(f, TSV, "a\tb\n1\t2\n", "a\n\"x\n")
}

func FuzzText(f *testing.F) {
	fuzzStream(f, Text, "one\ntwo\n\nthree", "\xff\xfe", "a\x00b\n")
}

// FuzzColumnarJSON needs a real file: columnar JSON reopens it per column.
func FuzzColumnarJSON(f *testing.F) {
	f.Add([]byte(`{"q": ["a", "b"], "n": [1, 2]}`))
	f.Add([]byte(`{"q": ["a"], "n": [1, 2]}`))
	f.Add([]byte(`{"q": [1, {"x": 2}], "n": [3, 4`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "c.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Open(p, Options{MaxRecordBytes: 1 << 16})
		if err != nil {
			return
		}
		defer r.Close()
		drain(t, r)
	})
}

func FuzzParquet(f *testing.F) {
	p := filepath.Join(f.TempDir(), "seed.parquet")
	writeParquet(f, p, 3)
	seed, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewParquet("fuzz", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		defer r.Close()
		drain(t, r)
	})
}
