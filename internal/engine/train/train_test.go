package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

func storiesDir(t testing.TB) string {
	t.Helper()
	d, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "..", "shared", "assets", "models", "stories260K")
		}
		p := filepath.Dir(d)
		if p == d {
			t.Fatal("go.mod not found")
		}
		d = p
	}
}

// styleStories is a small story set in a style stories260K has not seen:
// terse, formulaic "log entries" about animals and colours.
func styleStories(n, offset int) []string {
	names := []string{"Tom", "Mia", "Ben", "Sue", "Max", "Zoe", "Sam", "Ann"}
	animals := []string{"cat", "dog", "frog", "bird", "fish", "duck", "bear"}
	colors := []string{"red", "blue", "green", "pink", "gray"}
	var out []string
	for i := offset; i < offset+n; i++ {
		nm, an, co := names[i%len(names)], animals[(i/3)%len(animals)], colors[(i/5)%len(colors)]
		out = append(out, fmt.Sprintf("Log %d. %s saw a %s %s. The %s %s said hop. %s said hop too. End of log.", i%10, nm, co, an, co, an, nm))
	}
	return out
}

func examples(t testing.TB, tok *tokenizer.Tokenizer, texts []string, promptWords int) []Example {
	t.Helper()
	var exs []Example
	eos, _ := tok.EOS()
	for _, s := range texts {
		ids := append(tok.Encode(s, true), eos)
		ex := Example{IDs: toInt32(ids)}
		if promptWords > 0 {
			p := tok.Encode(strings.Join(strings.Fields(s)[:promptWords], " "), true)
			ex.Train = make([]bool, len(ids))
			for i := len(p); i < len(ids); i++ {
				ex.Train[i] = true
			}
		}
		exs = append(exs, ex)
	}
	return exs
}

func setup(t testing.TB) (*model.Model, *tokenizer.Tokenizer) {
	t.Helper()
	m, err := model.Load(storiesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(storiesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	return m, tok
}

func baseConfig() Config {
	return Config{Method: "lora", LoRA: model.LoRAConfig{Rank: 8, Alpha: 16, Targets: []string{"all-linear"}},
		BatchSize: 8, LearningRate: 5e-3, Schedule: "cosine", WarmupSteps: 3, MaxSeqLen: 64, Seed: 7, Epochs: 4}
}

// TestFineTuneLowersHeldOutLoss fine-tunes stories260K with LoRA and with
// QLoRA (the same adapters on an NF4 base) on the same data: both must cut
// the held-out loss clearly, and QLoRA's must stay close to LoRA's.
func TestFineTuneLowersHeldOutLoss(t *testing.T) {
	t.Parallel()
	type out struct{ before, after float64 }
	res := map[string]out{}
	for _, method := range []string{"lora", "qlora", "qlora-dq"} {
		m, tok := setup(t)
		train := examples(t, tok, styleStories(48, 0), 0)
		val := examples(t, tok, styleStories(12, 100), 0)
		cfg := baseConfig()
		cfg.Method, cfg.DoubleQuant = strings.TrimSuffix(method, "-dq"), strings.HasSuffix(method, "-dq")
		tr, err := New(m, cfg, train, val, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := tr.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		before, after := *r.InitialValLoss, *r.FinalValLoss
		t.Logf("%s: held-out loss before %.4f, after %.4f (%d steps, %d trainable params)", method, before, after, r.Steps, r.TrainableParams)
		if after > 0.6*before {
			t.Errorf("%s: held-out loss %.4f → %.4f: want at least a 40%% drop", method, before, after)
		}
		res[method] = out{before, after}
	}
	l := res["lora"]
	for _, method := range []string{"qlora", "qlora-dq"} {
		q := res[method]
		if q.before == l.before {
			t.Errorf("%s's base loss equals lora's (%.6f): the base was not quantized", method, q.before)
		}
		if d := math.Abs(q.before - l.before); d > 0.1*l.before {
			t.Errorf("%s base: held-out loss before tuning %.4f vs float32 %.4f", method, q.before, l.before)
		}
		if d := math.Abs(q.after - l.after); d > 0.1*l.after+0.02 {
			t.Errorf("%s tuned held-out loss %.4f, lora %.4f: too far apart", method, q.after, l.after)
		}
	}
}

func TestResumeIsExact(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"lora", "qlora", "qlora-dq"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			testResumeIsExact(t, method)
		})
	}
}

func testResumeIsExact(t *testing.T, method string) {
	cfg := baseConfig()
	cfg.Method, cfg.DoubleQuant = strings.TrimSuffix(method, "-dq"), strings.HasSuffix(method, "-dq")
	cfg.Epochs, cfg.GradAccum, cfg.BatchSize = 2, 2, 4
	cfg.LoRA.Dropout = 0.1
	cfg.Packing = true
	mk := func() *Trainer {
		m, tok := setup(t)
		tr, err := New(m, cfg, examples(t, tok, styleStories(40, 0), 3), examples(t, tok, styleStories(4, 50), 0), nil)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	full, err := mk().Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if full.Steps < 4 {
		t.Fatalf("only %d steps", full.Steps)
	}
	dir := t.TempDir()
	c2 := cfg
	c2.CheckpointDir = dir
	cfg = c2
	first := mk()
	ctx, cancel := context.WithCancel(context.Background())
	first.OnStep = func(p Progress) {
		if p.Step == 2 {
			cancel()
		}
	}
	if _, err := first.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, want context.Canceled", err)
	}
	cp := LatestCheckpoint(dir)
	if filepath.Base(cp) != "checkpoint-2" {
		t.Fatalf("latest checkpoint %q, want checkpoint-2", cp)
	}
	second := mk()
	if err := second.Resume(cp); err != nil {
		t.Fatal(err)
	}
	res, err := second.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.History) != len(full.History) {
		t.Fatalf("%d steps after resume, %d uninterrupted", len(res.History), len(full.History))
	}
	for i := range full.History {
		a, b := full.History[i], res.History[i]
		if a.Loss != b.Loss || a.GradNorm != b.GradNorm || a.LearningRate != b.LearningRate {
			t.Errorf("step %d: uninterrupted loss %.9g gn %.9g lr %g; resumed %.9g gn %.9g lr %g", a.Step, a.Loss, a.GradNorm, a.LearningRate, b.Loss, b.GradNorm, b.LearningRate)
		}
	}
}

func TestStopsOnNaN(t *testing.T) {
	t.Parallel()
	m, tok := setup(t)
	m.Layers[2].Up.W.Data[5] = float32(math.NaN())
	tr, err := New(m, baseConfig(), examples(t, tok, styleStories(8, 0), 0), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tr.Run(context.Background())
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "step 1") {
		t.Fatalf("err = %v, want ErrNonFinite at step 1", err)
	}
}

// TestMemoryEstimateQLoRA: with qlora the estimate counts the projections
// at NF4's 4.5 bits plus one dequantization tile, and that is what the
// trainer really holds after quantizing.
func TestMemoryEstimateQLoRA(t *testing.T) {
	t.Parallel()
	for _, dq := range []bool{false, true} {
		t.Run(fmt.Sprintf("double_quant=%v", dq), func(t *testing.T) {
			t.Parallel()
			testMemoryEstimateQLoRA(t, dq)
		})
	}
}

func testMemoryEstimateQLoRA(t *testing.T, dq bool) {
	m, tok := setup(t)
	cfg := baseConfig()
	cfg.MaxSeqLen = 32
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	lora := EstimateMemory(m, &cfg)
	cfg.Method, cfg.DoubleQuant = "qlora", dq
	est := EstimateMemory(m, &cfg)
	exs := examples(t, tok, styleStories(4, 0), 0)
	tr, err := New(m, cfg, exs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var quant, resident, tile int64
	for i := range m.Layers {
		for _, l := range m.Layers[i].Linears() {
			if l.Q == nil || l.W.Data != nil {
				t.Fatalf("layer %d: %s not held in NF4 only", i, l.W.Name)
			}
			quant += int64(l.Out * l.In)
			resident += l.Q.Bytes()
			if (l.Q.AbsmaxQ != nil) != dq {
				t.Fatalf("%s: double-quantized %v, want %v", l.W.Name, l.Q.AbsmaxQ != nil, dq)
			}
			tile = max(tile, int64(l.Out*l.In))
		}
	}
	dense := int64(0)
	for _, p := range m.Params() {
		dense += int64(len(p.Data))
	}
	if want := 4*dense + resident + 4*tile; est.Weights != want {
		t.Errorf("qlora weights estimate %d, the model holds %d (dense %d + NF4 %d + tile %d)", est.Weights, want, 4*dense, resident, 4*tile)
	}
	bits := float64(8*resident) / float64(quant)
	if (!dq && bits != 4.5) || (dq && (bits < 4.127 || bits > 4.14)) {
		t.Errorf("NF4 weights use %.4f bits per weight, want 4.5 (4.127 + partial second-level blocks with double quantization)", bits)
	}
	if saved := lora.Weights - est.Weights; saved != 4*quant-resident-4*tile {
		t.Errorf("estimate shrinks by %d bytes, want %d", saved, 4*quant-resident-4*tile)
	}
	if tr.Estimate() != est || est.Total >= lora.Total {
		t.Errorf("trainer estimate %v, direct %v, lora %v", tr.Estimate(), est, lora)
	}
	t.Logf("weights: lora %d bytes, qlora %d bytes (%d projection weights, %.4f bits each)", lora.Weights, est.Weights, quant, bits)
}

func TestMemoryEstimateRefuses(t *testing.T) {
	t.Parallel()
	m, tok := setup(t)
	cfg := baseConfig()
	cfg.MemoryLimit = 10 << 20
	_, err := New(m, cfg, examples(t, tok, styleStories(8, 0), 0), nil, nil)
	var ee *EstimateError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "activations") || !strings.Contains(err.Error(), "0.01 GiB is available") {
		t.Fatalf("err = %v, want an EstimateError with the numbers", err)
	}
	if ee.Estimate.Total <= ee.Limit {
		t.Fatalf("estimate %d not above limit %d", ee.Estimate.Total, ee.Limit)
	}
}

// TestGradAccumEquivalent: one step on a batch of 4 equals one step of two
// accumulated batches of 2 (same sequences, same lengths).
func TestGradAccumEquivalent(t *testing.T) {
	t.Parallel()
	run := func(batch, accum int) []float32 {
		m, tok := setup(t)
		cfg := baseConfig()
		cfg.BatchSize, cfg.GradAccum, cfg.MaxSteps, cfg.Schedule, cfg.WarmupSteps = batch, accum, 1, "constant", 0
		texts := make([]string, 4)
		for i := range texts {
			texts[i] = styleStories(1, 0)[0] // identical lengths
			texts[i] = strings.Replace(texts[i], "Tom", []string{"Tom", "Mia", "Ben", "Sue"}[i], -1)
		}
		tr, err := New(m, cfg, examples(t, tok, texts, 2), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		var out []float32
		for _, p := range m.LoRAParams() {
			out = append(out, p.Data...)
		}
		return out
	}
	a, b := run(4, 1), run(2, 2)
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	if d > 1e-6 {
		t.Fatalf("weights after one step differ by %.3g", d)
	}
}

// TestPackingMatchesSeparate: packed samples give the same loss as the same
// samples run one per sequence (no cross-sample attention, positions restart).
func TestPackingMatchesSeparate(t *testing.T) {
	t.Parallel()
	m, tok := setup(t)
	exs := examples(t, tok, styleStories(5, 3), 2)
	order := []int{0, 1, 2, 3, 4}
	sep := buildSeqs(exs, order, 256, false)
	packed := buildSeqs(exs, order, 256, true)
	if len(packed) != 1 || len(sep) != 5 {
		t.Fatalf("%d packed rows, %d separate", len(packed), len(sep))
	}
	var want float64
	var wn int
	for _, s := range sep {
		l, n, err := m.ForwardBackward(toBatch([]seq{s}), 0, false)
		if err != nil {
			t.Fatal(err)
		}
		want += l
		wn += n
	}
	got, gn, err := m.ForwardBackward(toBatch(packed), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if gn != wn || math.Abs(got-want) > 1e-3 {
		t.Fatalf("packed loss %.6f over %d, separate %.6f over %d", got, gn, want, wn)
	}
}

func TestLRSchedules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sched           string
		step, warm, tot int
		want            float64
	}{
		{"constant", 0, 2, 10, 0},
		{"constant", 1, 2, 10, 0.5},
		{"constant", 5, 2, 10, 1},
		{"linear", 6, 2, 10, 0.5},
		{"linear", 10, 2, 10, 0},
		{"cosine", 2, 2, 10, 1},
		{"cosine", 6, 2, 10, 0.5},
		{"cosine", 4, 2, 10, 0.5 * (1 + math.Cos(math.Pi/4))},
	} {
		got, err := LR(tc.sched, 1, tc.step, tc.warm, tc.tot)
		if err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("LR(%s, step %d) = %g, %v; want %g", tc.sched, tc.step, got, err, tc.want)
		}
	}
	if _, err := LR("exponential", 1, 0, 0, 1); err == nil {
		t.Error("unknown schedule accepted")
	}
}
