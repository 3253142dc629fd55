package export

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/export/convert"
	"github.com/whetstone/whetstone/internal/export/exporttest"
	"github.com/whetstone/whetstone/internal/safetensors"
)

// rss reads a field of /proc/self/status in MiB (Linux; 0 elsewhere).
func rss(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// resetPeak frees what the GC can and resets the peak RSS (VmHWM) to the
// current RSS, so the next reading is the peak of what follows.
func resetPeak() {
	runtime.GC()
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) //nolint:errcheck // Linux only; the figure is then process-wide
}

// BenchmarkExport measures export time and peak memory (resident set, which
// includes the memory-mapped input weights that are read) for a
// SmolLM2-135M-shaped model with random BF16 weights, as the published
// checkpoint stores them, and a rank-8 LoRA adapter on every linear layer.
func BenchmarkExport(b *testing.B) {
	dir := b.TempDir()
	base, adapter := filepath.Join(dir, "base"), filepath.Join(dir, "adapter")
	exporttest.Model(b, base, exporttest.SmolLM2_135M, safetensors.BF16)
	exporttest.Adapter(b, adapter, base, exporttest.SmolLM2_135M, exporttest.LoRA{Rank: 8})
	gguf := []string{FormatGGUF}
	cases := []struct {
		name string
		o    Options
	}{
		{"gguf-f32", Options{Formats: gguf, GGUFTypes: []convert.FileType{convert.F32}}},
		{"gguf-f16", Options{Formats: gguf, GGUFTypes: []convert.FileType{convert.F16}}},
		{"gguf-q8_0", Options{Formats: gguf, GGUFTypes: []convert.FileType{convert.Q8_0}}},
		{"gguf-q4_0", Options{Formats: gguf, GGUFTypes: []convert.FileType{convert.Q4_0}}},
		{"gguf-q4_k_m", Options{Formats: gguf, GGUFTypes: []convert.FileType{convert.Q4_K_M}}},
		{"gguf-q8_0-merged-lora", Options{Adapter: adapter, Formats: gguf, GGUFTypes: []convert.FileType{convert.Q8_0}}},
		{"merged-bf16", Options{Adapter: adapter, Formats: []string{FormatMerged}, DType: "bf16"}},
		{"merged-f32", Options{Adapter: adapter, Formats: []string{FormatMerged}, DType: "f32"}},
		{"adapter-peft+gguf", Options{Adapter: adapter, Formats: []string{FormatAdapter, FormatGGUF}, GGUFTypes: []convert.FileType{convert.F16}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var peak, outMB float64
			for b.Loop() {
				b.StopTimer()
				out, err := os.MkdirTemp(dir, "out")
				if err != nil {
					b.Fatal(err)
				}
				resetPeak()
				b.StartTimer()
				o := c.o
				o.Model, o.Out = base, out
				res, err := Run(context.Background(), &o)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				peak = max(peak, rss("VmHWM"))
				outMB = 0
				for _, f := range res.Files {
					outMB += float64(f.Size) / (1 << 20)
				}
				os.RemoveAll(out)
				b.StartTimer()
			}
			b.ReportMetric(peak, "peak-RSS-MiB")
			b.ReportMetric(outMB, "output-MiB")
		})
	}
}
