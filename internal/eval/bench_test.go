package eval

import (
	"fmt"
	"strings"
	"testing"
)

func benchText(words int) string {
	vocab := strings.Fields("once upon a time there was a little girl named lily she loved to play outside in the park")
	var b strings.Builder
	for i := range words {
		b.WriteString(vocab[(i*7+i/3)%len(vocab)])
		b.WriteByte(' ')
	}
	return b.String()
}

func BenchmarkMetrics(b *testing.B) {
	for _, n := range []int{64, 512} {
		pred, ref := benchText(n), benchText(n+n/4)
		b.Run(fmt.Sprintf("rouge_l/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(pred) + len(ref)))
			for b.Loop() {
				RougeL(pred, ref)
			}
		})
		b.Run(fmt.Sprintf("bleu/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(pred) + len(ref)))
			for b.Loop() {
				SentenceBLEU(pred, ref)
			}
		})
		b.Run(fmt.Sprintf("token_f1/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				TokenF1(pred, ref)
			}
		})
	}
}

func BenchmarkBootstrap(b *testing.B) {
	for _, n := range []int{50, 1000} {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(i % 7)
		}
		b.Run(fmt.Sprintf("mean/n=%d/resamples=1000", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Bootstrap(n, 1000, 0.95, NewRand(1), func(idx []int) float64 { return mean(xs, idx) })
			}
		})
	}
}
