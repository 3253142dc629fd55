//go:build integration

package serving

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/export/convert"
	"github.com/whetstone/whetstone/internal/export/exporttest"
	"github.com/whetstone/whetstone/internal/safetensors"
)

// BenchmarkStreams measures aggregate generation speed with 1, 4 and 16
// concurrent streams (64 greedy tokens each after the same short prompt,
// prompt processing included, wall time from submitting the first to the
// last one ending) on stories260K and a SmolLM2-135M-shaped f32 model: the
// engine's batched scheduler ("tok/s") beside real llama.cpp's parallel
// decoding on the same weights as f32 GGUF (llama.node's slot API, what
// llama-server runs; "llamacpp-tok/s"). Needs `npm ci --prefix tools/llamacpp`.
// The SmolLM2 shape takes about 5 minutes on 2 cores, so it runs only with
// WHET_BENCH_SMOLLM2=1:
//
//	WHET_BENCH_SMOLLM2=1 go test -tags integration ./internal/serving -run '^$' -bench Streams -benchtime 1x
func BenchmarkStreams(b *testing.B) {
	const nGen = 64
	prompt := "Once upon a time, in a small town by the sea,"
	models := []struct{ name, dir string }{{"stories260K", assets.Path(b, "models", "stories260K")}}
	if os.Getenv("WHET_BENCH_SMOLLM2") == "1" {
		smol := filepath.Join(b.TempDir(), "smollm2-135m")
		exporttest.Model(b, smol, exporttest.SmolLM2_135M, safetensors.F32)
		models = append(models, struct{ name, dir string }{"smollm2-135m", smol})
	}
	for _, mc := range models {
		gguf := filepath.Join(b.TempDir(), mc.name+".gguf")
		toGGUF(b, mc.dir, gguf)
		for _, n := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/streams=%d", mc.name, n), func(b *testing.B) {
				e := New(Options{MaxBatch: 16})
				defer e.Close()
				l, err := e.Load(Target{Base: mc.dir})
				if err != nil {
					b.Fatal(err)
				}
				ids := l.Tok.Encode(prompt, true)
				in := make([]int32, len(ids))
				for i, id := range ids {
					in[i] = int32(id)
				}
				run := func() float64 {
					start := time.Now()
					var wg sync.WaitGroup
					tokens := make([]int, n)
					for i := range n {
						s, err := e.Submit(context.Background(), Request{Model: l, Prompt: in, MaxTokens: nGen, OnToken: func(Token) bool { return true }})
						if err != nil {
							b.Fatal(err)
						}
						wg.Add(1)
						go func() {
							defer wg.Done()
							r, _ := s.Wait()
							tokens[i] = len(r.Tokens)
						}()
					}
					wg.Wait()
					total := 0
					for _, t := range tokens {
						total += t
					}
					return float64(total) / time.Since(start).Seconds()
				}
				run() // warm-up
				var tps float64
				for b.Loop() {
					tps = run()
				}
				b.ReportMetric(tps, "tok/s")
				b.ReportMetric(llamaParallel(b, gguf, n, nGen, prompt), "llamacpp-tok/s")
			})
		}
	}
}

func toGGUF(tb testing.TB, dir, out string) {
	st, err := safetensors.OpenDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	f, err := os.Create(out)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := convert.Model(context.Background(), f, &convert.Params{Dir: dir, Weights: convert.Safetensors(st), Type: convert.F32}); err != nil {
		tb.Fatal(err)
	}
}

func llamaParallel(tb testing.TB, gguf string, streams, nGen int, prompt string) float64 {
	tool := filepath.Join(assets.RepoRoot(tb), "tools", "llamacpp")
	if _, err := os.Stat(filepath.Join(tool, "node_modules", "@fugood", "llama.node")); err != nil {
		tb.Fatalf("llama.cpp runner not installed: run `npm ci --prefix tools/llamacpp` (%v)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", filepath.Join(tool, "parallel.mjs"), "--model", gguf, "--streams", fmt.Sprint(streams),
		"--n_gen", fmt.Sprint(nGen), "--threads", "2", "--prompt", prompt).Output()
	if err != nil {
		tb.Fatalf("llama.cpp parallel: %v\n%s", err, out)
	}
	var r struct {
		TokensPerS float64 `json:"tokens_per_s"`
		Tokens     int     `json:"tokens"`
	}
	if err := json.Unmarshal(lastLine(out), &r); err != nil {
		tb.Fatalf("llama.cpp parallel output %q: %v", out, err)
	}
	if r.Tokens != streams*nGen {
		tb.Logf("llama.cpp generated %d tokens, want %d", r.Tokens, streams*nGen)
	}
	return r.TokensPerS
}

func lastLine(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return b[i+1:]
		}
	}
	return b
}
