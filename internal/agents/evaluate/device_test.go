package evaluate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/engine/cuda"
	"github.com/whetstone/whetstone/internal/eval"
	"github.com/whetstone/whetstone/internal/eval/enginemodel"
	"github.com/whetstone/whetstone/internal/gpus"
	"github.com/whetstone/whetstone/internal/safetensors"
)

// Openers for device.SelectWith: no GPU (what this machine has when it
// has none), and a fake cuda:1 that must never be used for real work.
func noGPU(opened *[]int) func(int) (*cuda.Device, error) {
	return func(i int) (*cuda.Device, error) {
		*opened = append(*opened, i)
		return nil, fmt.Errorf("%w: the driver sees no CUDA device", cuda.ErrUnavailable)
	}
}

func fakeGPU(opened *[]int) func(int) (*cuda.Device, error) {
	return func(i int) (*cuda.Device, error) {
		*opened = append(*opened, i)
		return &cuda.Device{Info: cuda.DeviceInfo{Index: i, Name: "Fake GPU"}}, nil
	}
}

// TestRunRecordsDevice: the device param goes through package device
// (logged as "device: CPU/GPU" with why), the model is loaded for the
// chosen device, and evaluation.json and the artifact meta record it.
// auto without a GPU is the CPU; an explicit cuda without one is a
// permanent error naming the device, before any model is loaded.
func TestRunRecordsDevice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "model", "config.json"), `{}`)
	write(t, filepath.Join(dir, "data", "validation.jsonl"), `{"text":"Q: hi\nA: ok","prompt":"Q: hi\nA:"}`+"\n")
	for _, tc := range []struct {
		name, device string
		gpu          bool
		want         string // recorded device; "" = an error
		wantErr      string
		wantLog      []string
		wantOpened   int // how many times a GPU was asked for
	}{
		{"auto without GPU", "auto", false, "cpu", "", []string{"device: CPU", "auto: no usable GPU", "no CUDA device"}, 1},
		{"default without GPU", "", false, "cpu", "", []string{"device: CPU", "auto: no usable GPU"}, 1},
		{"cpu", "cpu", true, "cpu", "", []string{"device: CPU", "--device cpu"}, 0},
		{"auto with GPU", "auto", true, "cuda:0", "", []string{"device: GPU", "auto: a usable GPU was found"}, 1},
		{"cuda:1 with GPU", "cuda:1", true, "cuda:1", "", []string{"device: GPU", "--device cuda:1"}, 1},
		{"cuda without GPU", "cuda", false, "", "device cuda:0: cuda unavailable: the driver sees no CUDA device", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls []loadCall
			var opened []int
			a := New(fakeLoader(&calls)).(*Agent)
			a.models.Open = noGPU(&opened)
			if tc.gpu {
				a.models.Open = fakeGPU(&opened)
			}
			var logs bytes.Buffer
			p := defaults()
			p["device"] = tc.device
			out := t.TempDir()
			arts, err := a.Run(t.Context(), &agent.Env{Params: p, OutDir: out, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Inputs: []agent.Artifact{{Type: agent.Model, Path: filepath.Join(dir, "model")}, {Type: agent.Dataset, Path: filepath.Join(dir, "data")}}})
			if len(opened) != tc.wantOpened {
				t.Errorf("GPU opened %d times (%v), want %d", len(opened), opened, tc.wantOpened)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !agent.IsPermanent(err) {
					t.Fatalf("error %v, want a permanent one containing %q", err, tc.wantErr)
				}
				if len(calls) != 0 {
					t.Errorf("a model was loaded: %v", calls)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.wantLog {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, logs.String())
				}
			}
			e, err := eval.ReadEvaluation(filepath.Join(out, arts[0].Path))
			if err != nil {
				t.Fatal(err)
			}
			if e.Device != tc.want || arts[0].Meta["device"] != tc.want {
				t.Errorf("report device %q, meta device %v; want %q", e.Device, arts[0].Meta["device"], tc.want)
			}
			raw, _ := os.ReadFile(filepath.Join(out, arts[0].Path))
			if !bytes.Contains(raw, []byte(`"device": "`+tc.want+`"`)) {
				t.Errorf("evaluation.json does not carry device %q", tc.want)
			}
		})
	}
}

// TestRunOnThisMachine runs the engine (no fake loader, the real cuda.Open)
// on the stories260K model: auto must succeed and record where it ran,
// which is the CPU exactly when no GPU can be opened here.
func TestRunOnThisMachine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "data", "validation.jsonl"), `{"text":"Once upon a time, Tom had a ball.","prompt":"Once upon a time,"}`+"\n")
	stories := assets.Path(t, "models", "stories260K")
	p := defaults()
	p["max_new_tokens"] = int64(4)
	var logs bytes.Buffer
	out := t.TempDir()
	arts, err := New(nil).Run(t.Context(), &agent.Env{Params: p, OutDir: out, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Inputs: []agent.Artifact{{Type: agent.Model, Path: stories}, {Type: agent.Dataset, Path: filepath.Join(dir, "data")}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "cpu"
	if d, err := cuda.Open(0); err == nil {
		want = fmt.Sprintf("cuda:%d", d.Info.Index)
	}
	if arts[0].Meta["device"] != want || !strings.Contains(logs.String(), "device: ") {
		t.Errorf("meta device %v, want %s; log:\n%s", arts[0].Meta["device"], want, logs.String())
	}
}

// oddHeadModel writes a one-layer Llama with head size 12, which the GPU
// attention kernels lack (cuda.AttnHeadDims), with stories260K's
// tokenizer.
func oddHeadModel(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	const hidden, heads, inter, vocab = 24, 2, 32, 512
	cfg := map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama", "hidden_size": hidden,
		"intermediate_size": inter, "num_hidden_layers": 1, "num_attention_heads": heads, "num_key_value_heads": heads,
		"head_dim": hidden / heads, "vocab_size": vocab, "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
		"hidden_act": "silu", "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2}
	b, _ := json.Marshal(cfg)
	write(t, filepath.Join(dir, "config.json"), string(b))
	r := rand.New(rand.NewPCG(1, 2))
	rnd := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 0.1)
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
	l := "model.layers.0."
	ts := []safetensors.Tensor{
		safetensors.F32Tensor("model.embed_tokens.weight", []int{vocab, hidden}, rnd(vocab*hidden)),
		safetensors.F32Tensor("model.norm.weight", []int{hidden}, ones(hidden)),
		safetensors.F32Tensor("lm_head.weight", []int{vocab, hidden}, rnd(vocab*hidden)),
		safetensors.F32Tensor(l+"input_layernorm.weight", []int{hidden}, ones(hidden)),
		safetensors.F32Tensor(l+"post_attention_layernorm.weight", []int{hidden}, ones(hidden)),
		safetensors.F32Tensor(l+"self_attn.q_proj.weight", []int{hidden, hidden}, rnd(hidden*hidden)),
		safetensors.F32Tensor(l+"self_attn.k_proj.weight", []int{hidden, hidden}, rnd(hidden*hidden)),
		safetensors.F32Tensor(l+"self_attn.v_proj.weight", []int{hidden, hidden}, rnd(hidden*hidden)),
		safetensors.F32Tensor(l+"self_attn.o_proj.weight", []int{hidden, hidden}, rnd(hidden*hidden)),
		safetensors.F32Tensor(l+"mlp.gate_proj.weight", []int{inter, hidden}, rnd(inter*hidden)),
		safetensors.F32Tensor(l+"mlp.up_proj.weight", []int{inter, hidden}, rnd(inter*hidden)),
		safetensors.F32Tensor(l+"mlp.down_proj.weight", []int{hidden, inter}, rnd(hidden*inter)),
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, nil); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "model.safetensors"), buf.String())
	stories := assets.Path(t, "models", "stories260K")
	for _, f := range []string{"tokenizer.model", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(stories, f))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, f), string(b))
	}
	return dir
}

// TestLoadModelFallsBackForAuto: a model the GPU cannot hold (here a head
// size its kernels lack, found before any device memory is touched) runs
// on the CPU under auto, logged with the reason, and is an error under an
// explicit cuda.
func TestLoadModelFallsBackForAuto(t *testing.T) {
	t.Parallel()
	dir := oddHeadModel(t)
	var opened []int
	ms := Models{Open: fakeGPU(&opened)}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	l, err := ms.LoadModel(t.Context(), LoadRequest{Device: "auto", Base: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Device != "cpu" {
		t.Errorf("auto ran on %s, want the CPU", l.Device)
	}
	for _, w := range []string{"device: GPU", "device: CPU", "head dim 12 not supported"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs.String())
		}
	}
	if s, n, err := l.Model.Loss(t.Context(), []int{1, 5, 9, 2}, []int{1, 5, 9, 2}); err != nil || n != 3 || !(s > 0) {
		t.Errorf("the CPU fallback model: loss %v over %d, %v", s, n, err)
	}
	_, err = ms.LoadModel(t.Context(), LoadRequest{Device: "cuda:0", Base: dir, Logger: log})
	var de *enginemodel.DeviceError
	if err == nil || !agent.IsPermanent(err) || !strings.Contains(err.Error(), "onto cuda:0") || !strings.Contains(err.Error(), "head dim 12") {
		t.Errorf("explicit cuda: %v, want a permanent error naming the device and the reason", err)
	} else if !errors.As(err, &de) {
		t.Errorf("explicit cuda: %v does not wrap enginemodel.DeviceError", err)
	}
}

// TestLoadModelLeasesGPU: with a GPU manager, an engine model asked to run
// on auto or cuda leases a GPU first (sized by DeviceBytes), waits in the
// queue while the only GPU is leased (its position reported), and releases
// the lease when it ends up on the CPU; an explicit cuda:N takes no lease;
// a model larger than every GPU runs on the CPU under auto and is an error
// under cuda.
func TestLoadModelLeasesGPU(t *testing.T) {
	t.Parallel()
	dir := oddHeadModel(t) // the upload fails before touching the (fake) device
	const gib = int64(1) << 30
	var opened []int
	mgr := &gpus.Manager{Dir: t.TempDir(), Poll: time.Millisecond, Devices: func() ([]gpus.GPU, error) {
		return []gpus.GPU{{Index: 0, UUID: "GPU-a", Name: "Fake", MemoryTotal: 80 * gib}}, nil
	}}
	ms := Models{Open: fakeGPU(&opened), GPUs: mgr}
	ctx := t.Context()

	// The only GPU is held by another node: auto waits, first in the queue.
	other, err := mgr.Acquire(ctx, "j/other", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	waits := make(chan int, 10)
	done := make(chan error, 1)
	var l *Loaded
	go func() {
		var err error
		l, err = ms.LoadModel(ctx, LoadRequest{Device: "auto", Base: dir, Node: "j/score",
			OnGPUWait: func(p int) { waits <- p }, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		done <- err
	}()
	select {
	case p := <-waits:
		if p != 1 {
			t.Errorf("queue position %d, want 1", p)
		}
	case err := <-done:
		t.Fatalf("LoadModel returned (%v) while the only GPU was leased", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no queue position reported")
	}
	other.Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l.Device != "cpu" || !strings.Contains(logs.String(), "gpu leased") || !strings.Contains(logs.String(), "head dim 12") {
		t.Errorf("device %s; log:\n%s", l.Device, logs.String())
	}
	// The lease went with the fallback: the GPU can be leased at once.
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	again, err := mgr.Acquire(short, "j/next", 1, nil)
	if err != nil {
		t.Fatalf("the GPU was not released: %v", err)
	}

	// An explicit cuda:0 takes no lease: it does not wait for the held GPU.
	if _, err := ms.LoadModel(short, LoadRequest{Device: "cuda:0", Base: dir, Node: "j/x"}); err == nil || !strings.Contains(err.Error(), "head dim 12") {
		t.Errorf("cuda:0 with the GPU leased elsewhere: %v, want the upload's error at once", err)
	}
	again.Release()

	// A model larger than every GPU.
	tiny := Models{Open: fakeGPU(&opened), GPUs: &gpus.Manager{Dir: t.TempDir(), Devices: func() ([]gpus.GPU, error) {
		return []gpus.GPU{{Index: 0, UUID: "GPU-s", Name: "Small", MemoryTotal: 1 << 20}}, nil
	}}}
	logs.Reset()
	l, err = tiny.LoadModel(ctx, LoadRequest{Device: "auto", Base: dir, Node: "j/y", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil || l.Device != "cpu" || !strings.Contains(logs.String(), "no suitable GPU") {
		t.Errorf("auto, too big for every GPU: %v, %+v; log:\n%s", err, l, logs.String())
	}
	if _, err := tiny.LoadModel(ctx, LoadRequest{Device: "cuda", Base: dir, Node: "j/z"}); !errors.Is(err, gpus.ErrNoGPU) || !agent.IsPermanent(err) {
		t.Errorf("cuda, too big for every GPU: %v, want a permanent gpus.ErrNoGPU", err)
	}
}
