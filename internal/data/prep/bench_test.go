package prep

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/whetstone/whetstone/internal/data/clean"
	"github.com/whetstone/whetstone/internal/data/dataset"
	"github.com/whetstone/whetstone/internal/data/datatest"
	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/data/synth"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// BenchmarkPreprocess runs the data-check example's preprocessing (alpaca
// template, redaction, near dedup, SmolLM2 tokenizer) on a generated file.
// `whet bench-data` does the same on 200 MB with peak RSS.
func BenchmarkPreprocess(b *testing.B) {
	tok, err := tokenizer.Load(datatest.Asset(b, "tokenizers/smollm2-135m"))
	if err != nil {
		b.Fatal(err)
	}
	for _, mb := range []int64{4} {
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
			o := Options{Tokenizer: tok, Template: "alpaca", Clean: clean.Defaults(), RedactPII: true, Dedup: "near",
				MaxTokens: 2048, ValidationSplit: 0.1, Seed: 42, AppendEOS: true}
			b.SetBytes(c.Bytes)
			b.ReportAllocs()
			for b.Loop() {
				s, err := dataset.OpenFile(p, record.Alpaca)
				if err != nil {
					b.Fatal(err)
				}
				st, err := Run(context.Background(), s, b.TempDir(), o)
				s.Close()
				if err != nil {
					b.Fatal(err)
				}
				if st.RowsIn != c.Rows {
					b.Fatalf("rows %d, want %d", st.RowsIn, c.Rows)
				}
			}
		})
	}
}
