package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/whetstone/whetstone/internal/data/dataset"
	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/data/synth"
)

// BenchmarkValidate runs every check on a generated Alpaca JSONL file.
// `whet bench-data` does the same on 200 MB with peak RSS.
func BenchmarkValidate(b *testing.B) {
	for _, mb := range []int64{8} {
		b.Run(fmt.Sprintf("%dMB", mb), func(b *testing.B) {
			p := filepath.Join(b.TempDir(), "data.jsonl")
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			c, err := synth.Write(f, synth.Options{Bytes: mb << 20, Seed: 1})
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
			opts := Defaults()
			opts.MaxTokens = 2048
			opts.TempDir = b.TempDir()
			b.SetBytes(c.Bytes)
			b.ReportAllocs()
			for b.Loop() {
				s, err := dataset.OpenFile(p, record.Alpaca)
				if err != nil {
					b.Fatal(err)
				}
				rep, err := Run(context.Background(), s, opts)
				s.Close()
				if err != nil {
					b.Fatal(err)
				}
				if rep.Rows != c.Rows {
					b.Fatalf("rows %d, want %d", rep.Rows, c.Rows)
				}
			}
		})
	}
}
