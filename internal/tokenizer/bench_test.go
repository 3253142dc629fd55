package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var (
	benchOnce sync.Once
	benchStr  string
	benchDocs []string
)

// benchText builds the ~3 MB English benchmark text from the assets: wiki_demo.txt, the c4_demo texts,
// then Alpaca instruction/input/output fields, then dpo_en_demo conversation texts, cut at the first line end after 3,000,000 bytes.
// Documents (for EncodeBatch) are its lines. WHET_BENCH_TEXT=path writes it out, for the reference.
func benchText(tb testing.TB) (string, []string) {
	tb.Helper()
	benchOnce.Do(func() {
		dir := filepath.Join(assetsDir(tb), "datasets", "llama-factory")
		var sb strings.Builder
		wiki, err := os.ReadFile(filepath.Join(dir, "wiki_demo.txt"))
		if err != nil {
			tb.Fatal(err)
		}
		sb.Write(wiki)
		c4, err := os.ReadFile(filepath.Join(dir, "c4_demo.jsonl"))
		if err != nil {
			tb.Fatal(err)
		}
		for _, line := range strings.Split(string(c4), "\n") {
			var r struct{ Text string }
			if json.Unmarshal([]byte(line), &r) == nil && r.Text != "" {
				sb.WriteString("\n" + r.Text)
			}
		}
		alp, err := os.ReadFile(filepath.Join(dir, "alpaca_en_demo.json"))
		if err != nil {
			tb.Fatal(err)
		}
		var rows []struct{ Instruction, Input, Output string }
		if err := json.Unmarshal(alp, &rows); err != nil {
			tb.Fatal(err)
		}
		for _, r := range rows {
			sb.WriteString("\n" + r.Instruction + "\n" + r.Input + "\n" + r.Output)
		}
		dpo, err := os.ReadFile(filepath.Join(dir, "dpo_en_demo.json"))
		if err != nil {
			tb.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(dpo, &v); err != nil {
			tb.Fatal(err)
		}
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case string:
				if len(x) > 40 {
					sb.WriteString("\n" + x)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			case map[string]any:
				for _, k := range []string{"conversations", "chosen", "rejected", "value"} {
					if e, ok := x[k]; ok {
						walk(e)
					}
				}
			}
		}
		walk(v)
		s := sb.String()
		if len(s) < 3_000_000 {
			tb.Fatalf("bench text is %d bytes, want 3 MB", len(s))
		}
		if i := strings.IndexByte(s[3_000_000:], '\n'); i >= 0 {
			s = s[:3_000_000+i]
		}
		benchStr = s
		benchDocs = strings.Split(s, "\n")
		if p := os.Getenv("WHET_BENCH_TEXT"); p != "" {
			if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
				tb.Fatal(err)
			}
			var jl strings.Builder
			for _, d := range benchDocs {
				b, _ := json.Marshal(map[string]string{"text": d})
				jl.Write(b)
				jl.WriteByte('\n')
			}
			if err := os.WriteFile(p+".docs.jsonl", []byte(jl.String()), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	})
	return benchStr, benchDocs
}

var benchModels = []string{"gpt2", "smollm2-135m", "qwen3", "llama2-spm", "llama-legacy"}

// BenchmarkEncode encodes the 3 MB text as one string on one goroutine.
func BenchmarkEncode(b *testing.B) {
	text, _ := benchText(b)
	for _, name := range benchModels {
		b.Run(name, func(b *testing.B) {
			tok := load(b, name)
			n := len(tok.Encode(text, false)) // warm the word cache, as the reference's warm-up does
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				tok.Encode(text, false)
			}
			b.ReportMetric(float64(n), "tokens")
		})
	}
}

// BenchmarkEncodeLines encodes the text line by line on one goroutine.
func BenchmarkEncodeLines(b *testing.B) {
	text, docs := benchText(b)
	for _, name := range benchModels {
		b.Run(name, func(b *testing.B) {
			tok := load(b, name)
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				for _, d := range docs {
					tok.Encode(d, false)
				}
			}
		})
	}
}

// BenchmarkEncodeBatch encodes the lines with EncodeBatch over 1 and GOMAXPROCS goroutines.
func BenchmarkEncodeBatch(b *testing.B) {
	text, docs := benchText(b)
	for _, procs := range []int{1, runtime.NumCPU()} {
		for _, name := range benchModels[:3] {
			b.Run(name+"/procs="+itoa(procs), func(b *testing.B) {
				old := runtime.GOMAXPROCS(procs)
				defer runtime.GOMAXPROCS(old)
				tok := load(b, name)
				b.SetBytes(int64(len(text)))
				for b.Loop() {
					tok.EncodeBatch(docs, false)
				}
			})
		}
	}
}

// BenchmarkLoad measures loading a tokenizer folder.
func BenchmarkLoad(b *testing.B) {
	for _, name := range []string{"qwen3", "llama2-spm"} {
		b.Run(name, func(b *testing.B) {
			dir := filepath.Join(assetsDir(b), tokenizerDirs[name])
			for b.Loop() {
				if _, err := Load(dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func itoa(n int) string {
	return strconv.Itoa(n)
}
