package gpu

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
)

// cpuLogits is the CPU engine's next-token logits after ids (KV-cache
// forward, as model.Generate runs it).
func cpuLogits(t *testing.T, m *model.Model, ids []int32) []float32 {
	t.Helper()
	lg, err := m.Forward(m.NewCache(len(ids)), ids, false)
	if err != nil {
		t.Fatal(err)
	}
	return lg
}

func logSoftmaxAt(lg []float32, i int) float64 {
	mx := float64(slices.Max(lg))
	var s float64
	for _, v := range lg {
		s += math.Exp(float64(v) - mx)
	}
	return float64(lg[i]) - mx - math.Log(s)
}

// TestLogitsMatchesCPU checks the device's inference forward (what
// generate, evaluate and compare run with device cuda) against the CPU
// engine: float32 logits within 1e-4 relative at lengths on both sides of
// the 32-token padding, with and without a frozen LoRA adapter (as
// evaluate loads a fine-tune). bf16 products: the logits within 5e-2
// relative of the CPU's float32 ones (bf16 keeps 8 bits), and the
// log-probability Logits gives a token within 2e-3 of the loss the same
// device computes for it in ForwardBackward (other shapes, so other product
// algorithms: a float32 ulp apart can flip a later bf16 rounding).
func TestLogitsMatchesCPU(t *testing.T) {
	dev := testDevice(t)
	big := func(t *testing.T) string { return randomLlama(t, 2, 256, 4, 2, 688, 3000) }
	adapter := func(t *testing.T, m *model.Model) {
		if _, err := m.LoadAdapter("../model/testdata/stories260K.adapter"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		dir     func(t *testing.T) string
		setup   func(t *testing.T, m *model.Model)
		bf16    bool
		lengths []int
	}{
		{"stories-f32", storiesDir, nil, false, []int{1, 31, 32, 33, 100}},
		{"stories-adapter-f32", storiesDir, adapter, false, []int{7, 64, 65}},
		{"hd64-f32", big, nil, false, []int{5, 160}},
		{"stories-bf16", storiesDir, nil, true, []int{33, 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := model.Load(tc.dir(t))
			if err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(t, m)
			}
			g, err := New(dev, m, Options{BF16: tc.bf16})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			r := rand.New(rand.NewPCG(3, 4))
			for _, n := range tc.lengths {
				ids := make([]int32, n)
				for i := range ids {
					ids[i] = int32(r.IntN(m.Cfg.VocabSize))
				}
				got, err := g.Logits(ids)
				if err != nil {
					t.Fatalf("length %d: %v", n, err)
				}
				want := cpuLogits(t, m, ids)
				e := relErr(got, want)
				t.Logf("length %d: logits relative error %.3g", n, e)
				tol := 1e-4
				if tc.bf16 {
					tol = 5e-2
				}
				if !(e <= tol) {
					t.Errorf("length %d: logits relative error %.3g > %.0e", n, e, tol)
				}
				if !tc.bf16 || n < 2 {
					continue
				}
				// The last token's log-probability from Logits(ids[:n-1])
				// against the device's own loss for it.
				prev, err := g.Logits(ids[:n-1])
				if err != nil {
					t.Fatal(err)
				}
				b := &model.Batch{B: 1, T: n, IDs: ids, Labels: make([]int32, n)}
				for i := range b.Labels {
					b.Labels[i] = nn.IgnoreIndex
				}
				b.Labels[n-2] = ids[n-1]
				loss, cnt, err := g.ForwardBackward(b, 0, false)
				if err != nil || cnt != 1 {
					t.Fatalf("ForwardBackward: %v (%d rows)", err, cnt)
				}
				lp := -logSoftmaxAt(prev, int(ids[n-1]))
				if math.Abs(lp-loss) > 2e-3*math.Max(1, math.Abs(loss)) {
					t.Errorf("length %d: -log p from Logits %.7f, ForwardBackward loss %.7f", n, lp, loss)
				}
			}
		})
	}
}

// TestGenerateMatchesCPU: greedy and seeded sampling on the device give
// the CPU engine's tokens (model.Generate), and a prompt that fills the
// context is refused as on the CPU. Where the two ever part, the CPU's
// logits must show a near tie (1e-4) between the two tokens.
func TestGenerateMatchesCPU(t *testing.T) {
	dev := testDevice(t)
	m, err := model.Load(storiesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.LoadAdapter("../model/testdata/stories260K.adapter"); err != nil {
		t.Fatal(err)
	}
	g, err := New(dev, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	prompt := []int32{1, 403, 407, 261, 378, 300}
	for _, o := range []model.GenerateOptions{
		{MaxNewTokens: 60},
		{MaxNewTokens: 40, Temperature: 0.8, TopK: 40, TopP: 0.9, RepetitionPenalty: 1.1, Seed: 7},
	} {
		want, err := m.Generate(t.Context(), prompt, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		var streamed []int32
		got, err := g.Generate(t.Context(), prompt, o, func(id int32) bool { streamed = append(streamed, id); return true })
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, streamed) {
			t.Errorf("returned %v, streamed %v", got, streamed)
		}
		if slices.Equal(got, want) {
			t.Logf("temperature %g: %d tokens equal the CPU's", o.Temperature, len(got))
			continue
		}
		k := 0
		for k < min(len(got), len(want)) && got[k] == want[k] {
			k++
		}
		if k == min(len(got), len(want)) {
			t.Fatalf("temperature %g: GPU %d tokens, CPU %d: %v vs %v", o.Temperature, len(got), len(want), got, want)
		}
		lg := cpuLogits(t, m, append(slices.Clone(prompt), want[:k]...))
		gap := math.Abs(float64(lg[got[k]] - lg[want[k]]))
		if gap > 1e-4*math.Max(1, math.Abs(float64(lg[want[k]]))) {
			t.Fatalf("temperature %g: token %d: GPU %d, CPU %d (logit gap %.3g, not a tie)\nGPU %v\nCPU %v", o.Temperature, k, got[k], want[k], gap, got, want)
		}
		t.Logf("temperature %g: parted at token %d on a near tie (gap %.3g)", o.Temperature, k, gap)
	}
	long := make([]int32, m.Rope.MaxPos)
	if _, err := g.Generate(t.Context(), long, model.GenerateOptions{MaxNewTokens: 4}, nil); err == nil {
		t.Error("a prompt filling the context was accepted")
	}
}

func TestPaddedLen(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ n, maxT, want int }{{1, 512, 32}, {32, 512, 32}, {33, 512, 64}, {500, 512, 512}, {512, 512, 512}, {40, 48, 48}} {
		if got := paddedLen(c.n, c.maxT); got != c.want {
			t.Errorf("paddedLen(%d, %d) = %d, want %d", c.n, c.maxT, got, c.want)
		}
	}
}
