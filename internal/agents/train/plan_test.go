//go:build integration

package train

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/agents/preprocess"
	"github.com/whetstone/whetstone/internal/engine/cuda"
	trainer "github.com/whetstone/whetstone/internal/engine/train"
	"github.com/whetstone/whetstone/internal/safetensors"
)

// procStatus reads a "Vm..." line of /proc/self/status in bytes.
func procStatus(t testing.TB, key string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	t.Fatalf("no %s in /proc/self/status", key)
	return 0
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// prepared runs the dataset and preprocess agents on source (with
// prepParams, the model's tokenizer) and returns the train job on their
// output with trainParams.
func prepared(tb testing.TB, model, source string, prepParams, trainParams agent.Params) Job {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	run := func(a agent.Agent, name string, p agent.Params, in ...agent.Artifact) []agent.Artifact {
		out := filepath.Join(dir, name)
		os.MkdirAll(out, 0o755)
		arts, err := a.Run(ctx, &agent.Env{Params: p, Inputs: in, OutDir: out, WorkDir: dir, Emit: agent.Discard})
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		for i := range arts {
			arts[i].Path = filepath.Join(out, arts[i].Path)
		}
		return arts
	}
	data := run(ingest.New(), "data", agent.Params{"source": source})
	prepParams["tokenizer"] = model
	prep := run(preprocess.New(), "prep", prepParams, data[0])
	cfg, err := ConfigFromParams(trainParams)
	if err != nil {
		tb.Fatal(err)
	}
	return Job{BaseModel: model, Data: prep[0].Path, OutDir: filepath.Join(dir, "tune"), Config: cfg}
}

// storiesExample is shared/examples/stories-lora.yaml's train job, on its
// prepared data.
func storiesExample(tb testing.TB) Job {
	model := storiesDir(tb)
	shared := filepath.Dir(filepath.Dir(model))
	return prepared(tb, model, filepath.Join(shared, "datasets", "llama-factory", "alpaca_en_demo.json"),
		agent.Params{"template": "alpaca", "max_tokens": int64(256), "validation_split": 0.1, "seed": int64(42)},
		agent.Params{"method": "lora", "epochs": int64(1), "batch_size": int64(8), "learning_rate": 3e-3,
			"schedule": "cosine", "warmup_steps": int64(10), "max_seq_len": int64(256), "seed": int64(42), "device": "cpu",
			"lora": map[string]any{"rank": int64(8), "alpha": 16.0, "dropout": 0.0, "targets": "all-linear"}})
}

// smolLM2Shape writes a model with SmolLM2-135M's config.json (hidden 576,
// 30 layers, 9 heads, 3 KV heads, MLP 1536, vocabulary 49,152, tied
// embeddings), deterministic small weights and the real SmolLM2 tokenizer.
func smolLM2Shape(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	tokDir := filepath.Join(filepath.Dir(storiesDir(tb)), "..", "tokenizers", "smollm2-135m")
	for _, n := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(tokDir, n))
		if err != nil {
			tb.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, n), b, 0o644)
	}
	const D, I, V, L, H, KV = 576, 1536, 49152, 30, 9, 3
	cfg := map[string]any{"model_type": "llama", "architectures": []string{"LlamaForCausalLM"}, "hidden_size": D, "intermediate_size": I,
		"num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": KV, "vocab_size": V, "max_position_embeddings": 8192,
		"rms_norm_eps": 1e-5, "rope_theta": 100000.0, "tie_word_embeddings": true, "bos_token_id": 0, "eos_token_id": 0}
	b, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	rnd := func(n, seed int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(((i+seed)*7919)%201-100) * 2e-4
		}
		return x
	}
	ones := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = 1
		}
		return x
	}
	ts := []safetensors.Tensor{safetensors.F32Tensor("model.embed_tokens.weight", []int{V, D}, rnd(V*D, 0)),
		safetensors.F32Tensor("model.norm.weight", []int{D}, ones(D))}
	kd := KV * (D / H)
	for l := range L {
		p := fmt.Sprintf("model.layers.%d.", l)
		for n, sh := range map[string][]int{"self_attn.q_proj": {D, D}, "self_attn.k_proj": {kd, D}, "self_attn.v_proj": {kd, D},
			"self_attn.o_proj": {D, D}, "mlp.gate_proj": {I, D}, "mlp.up_proj": {I, D}, "mlp.down_proj": {D, I}} {
			ts = append(ts, safetensors.F32Tensor(p+n+".weight", sh, rnd(sh[0]*sh[1], l+len(n))))
		}
		ts = append(ts, safetensors.F32Tensor(p+"input_layernorm.weight", []int{D}, ones(D)),
			safetensors.F32Tensor(p+"post_attention_layernorm.weight", []int{D}, ones(D)))
	}
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := safetensors.Write(f, ts, nil); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	return dir
}

// planned is a dry run and the same run made for real afterwards.
type planned struct {
	est           *agent.Estimate
	peak          int64   // growth of the peak RSS over the RSS before the run
	cpu, wall     float64 // seconds of the trainer's Run
	steps, tokens int64
}

// planAndRun plans job, then runs it in this process. Memory: the growth
// of the peak resident set (VmHWM, reset through /proc/self/clear_refs)
// over the resident set before the run. Duration: the trainer's Run (from
// OnStart to the end), in CPU and wall seconds.
func planAndRun(tb testing.TB, job Job) planned {
	tb.Helper()
	ctx := context.Background()
	est, err := Plan(ctx, job)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("plan: %+v", *est)
	runtime.GC()
	debug.FreeOSMemory()
	base := procStatus(tb, "VmRSS")
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Skipf("cannot reset the peak RSS: %v", err)
	}
	var wall0 time.Time
	var cpu0 time.Duration
	job.OnStart = func(int, trainer.Estimate, int) { wall0, cpu0 = time.Now(), cpuNow() }
	out, err := Run(ctx, job)
	if err != nil {
		tb.Fatal(err)
	}
	p := planned{est: est, cpu: (cpuNow() - cpu0).Seconds(), wall: time.Since(wall0).Seconds(), steps: int64(out.Result.Steps)}
	p.peak = procStatus(tb, "VmHWM") - base
	tb.Logf("engine estimate: %+v", out.Result.Estimate)
	for _, r := range out.Result.History {
		p.tokens += int64(r.Tokens)
	}
	tb.Logf("memory: estimate %d B, peak RSS growth %d B (ratio %.3f); duration: estimate %.2f CPU-s, run %.2f CPU-s (ratio %.3f); wall: estimate %.2f s, run %.2f s (ratio %.3f)",
		est.MemoryBytes, p.peak, p.memRatio(), est.CPUSeconds, p.cpu, p.cpuRatio(), est.Seconds, p.wall, est.Seconds/p.wall)
	return p
}

func (p planned) memRatio() float64 { return float64(p.est.MemoryBytes) / float64(p.peak) }
func (p planned) cpuRatio() float64 { return p.est.CPUSeconds / p.cpu }

// TestPlanStories is the dry run's done-when on stories260K: the plan of
// shared/examples/stories-lora.yaml's train node, then the same run for
// real: the memory estimate within 15 % of the measured peak, the duration
// within 30 % in CPU seconds (wall time, which the load of a shared machine
// moves, is logged; a missed duration gets one more plan and run), the steps
// and tokens exact.
func TestPlanStories(t *testing.T) {
	p := planAndRun(t, storiesExample(t))
	est := p.est
	if !est.Fits || est.Device != "cpu" || est.Steps == 0 || est.Tokens == 0 || est.Seconds <= 0 {
		t.Fatalf("plan %+v: want a cpu run that fits, with steps, tokens and seconds", *est)
	}
	if p.steps != int64(est.Steps) || p.tokens != est.Tokens {
		t.Errorf("ran %d steps, %d tokens; the plan said %d steps, %d tokens", p.steps, p.tokens, est.Steps, est.Tokens)
	}
	if r := p.memRatio(); r < 0.85 || r > 1.15 {
		t.Errorf("memory estimate / measured peak = %.3f, want within 15%%", r)
	}
	// The duration is a timing on a shared machine: a burst of other work
	// between the plan's warm-up and the run moves the CPU seconds of one of
	// them, so one that misses gets a second plan and run, and the bound
	// holds for the second (the memory, steps and tokens above are checked
	// on the first).
	r := p.cpuRatio()
	if r < 0.7 || r > 1.3 {
		t.Logf("duration estimate / measured = %.3f (CPU seconds): planning and running again", r)
		r = planAndRun(t, storiesExample(t)).cpuRatio()
	}
	if r < 0.7 || r > 1.3 {
		t.Errorf("duration estimate / measured = %.3f (CPU seconds), want within 30%%", r)
	}
}

// BenchmarkPlanSmolLM2 is the dry run's done-when on SmolLM2-135M's shape
// (a random model of its config with its real tokenizer; the weights are not
// in shared/assets): plan, then run a LoRA fine-tune of 6 steps on the Alpaca
// demo, and report estimate/measured for memory (peak RSS growth) and
// duration (CPU and wall seconds).
func BenchmarkPlanSmolLM2(b *testing.B) {
	model := smolLM2Shape(b)
	shared := filepath.Dir(filepath.Dir(storiesDir(b)))
	job := prepared(b, model, filepath.Join(shared, "datasets", "llama-factory", "alpaca_en_demo.json"), agent.Params{"template": "alpaca", "max_tokens": int64(256)},
		agent.Params{"method": "lora", "batch_size": int64(2), "max_steps": int64(6), "max_seq_len": int64(256), "device": "cpu",
			"learning_rate": 1e-4, "lora": map[string]any{"rank": int64(8), "alpha": 16.0, "targets": "all-linear"}})
	for b.Loop() {
		p := planAndRun(b, job)
		b.ReportMetric(p.memRatio(), "mem_est/peak")
		b.ReportMetric(p.cpuRatio(), "cpu_s_est/run")
		b.ReportMetric(p.est.Seconds/p.wall, "wall_s_est/run")
		b.ReportMetric(float64(p.peak)/(1<<20), "peak_MiB")
	}
}

// TestPlanCUDAWithoutGPU: a device: cuda node planned where no GPU is
// usable (a CPU-only API server in front of GPU workers) gets the GPU
// memory estimate from the model's shapes, not an error.
func TestPlanCUDAWithoutGPU(t *testing.T) {
	if _, err := cuda.Open(0); err == nil {
		t.Skip("a GPU is usable here: the plan warms up on it")
	}
	job := storiesExample(t)
	job.Config.Device = "cuda"
	job.Config.GradientCheckpointing = true
	est, err := Plan(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	ld, err := load(job)
	if err != nil {
		t.Fatal(err)
	}
	want, err := trainer.EstimateDevice(ld.m, job.Config)
	if err != nil {
		t.Fatal(err)
	}
	if est.Device != "cuda" || est.MemoryBytes != want.Total || !est.Fits || est.Steps != 0 || est.Seconds != 0 {
		t.Errorf("plan %+v: want device cuda, %d bytes (trainer.EstimateDevice), no steps or time", *est, want.Total)
	}
	if !strings.Contains(est.Warning, "no usable GPU") || !strings.Contains(est.Basis, "shapes") {
		t.Errorf("warning %q, basis %q: want them to say why and how", est.Warning, est.Basis)
	}
}
