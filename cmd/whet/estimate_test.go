package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/engine/gpu"
	"github.com/whetstone/whetstone/internal/engine/model"
	trainer "github.com/whetstone/whetstone/internal/engine/train"
)

func runEstimateArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := runEstimate(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return out.String(), err
}

// TestEstimateCommand: the JSON is gpu.EstimateShape (or the CPU's
// train.EstimateShape) of the shape the flags describe, and the table
// prints the same bytes.
func TestEstimateCommand(t *testing.T) {
	t.Parallel()
	shapes := filepath.Join("..", "..", "internal", "engine", "gpu", "testdata", "shapes")
	stories := filepath.Join(assets.Dir(t), "models", "stories260K")
	tests := []struct {
		name   string
		args   []string
		method string
		lora   model.LoRAConfig
		dq     bool
		batch  int
		seq    int
		o      gpu.Options
		cpu    bool
	}{
		{"8b-lora-ckpt", []string{"--model", filepath.Join(shapes, "llama-3.1-8b.json"), "--rank", "16", "--bf16", "--gradient-checkpointing", "--seq", "2048", "--batch", "1"},
			"lora", model.LoRAConfig{Rank: 16}, false, 1, 2048, gpu.Options{BF16: true, Checkpointing: true}, false},
		{"1b-qlora-dq", []string{"--model", filepath.Join(shapes, "llama-3.2-1b.json"), "--method", "qlora", "--double-quant", "--targets", "q,v", "--dropout", "0.05"},
			"qlora", model.LoRAConfig{Rank: 8, Dropout: 0.05, Targets: []string{"q", "v"}}, true, 4, 512, gpu.Options{}, false},
		{"stories-dir-full", []string{"--model", stories, "--method", "full", "--seq", "256", "--batch", "2"},
			"full", model.LoRAConfig{}, false, 2, 256, gpu.Options{}, false},
		{"stories-cpu", []string{"--model", stories, "--device", "cpu", "--seq", "64", "--bf16"},
			"lora", model.LoRAConfig{Rank: 8}, false, 4, 64, gpu.Options{BF16: true}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := runEstimateArgs(t, append(tc.args, "--json")...)
			if err != nil {
				t.Fatal(err)
			}
			var r estimateReport
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			cfg, err := model.ReadConfigFile(r.Model)
			if err != nil {
				t.Fatal(err)
			}
			s, err := model.NewShape(*cfg, tc.method, tc.lora, tc.dq)
			if err != nil {
				t.Fatal(err)
			}
			if r.Params != s.NumParams() || r.TrainableParams != s.TrainableParams() {
				t.Errorf("params %d trainable %d, want %d and %d", r.Params, r.TrainableParams, s.NumParams(), s.TrainableParams())
			}
			var rows [][2]any
			if tc.cpu {
				want, err := trainer.EstimateShape(s, trainer.Config{Method: tc.method, LoRA: tc.lora, DoubleQuant: tc.dq, BF16: tc.o.BF16, BatchSize: tc.batch, MaxSeqLen: tc.seq})
				if err != nil {
					t.Fatal(err)
				}
				if r.CPU == nil || *r.CPU != want || r.GPU != nil {
					t.Fatalf("cpu %+v gpu %+v, want cpu %+v", r.CPU, r.GPU, want)
				}
				rows = [][2]any{{"weights", want.Weights}, {"gradients+optimizer", want.Optimizer}, {"gc headroom", want.GCHeadroom}, {"native", want.Native}, {"total", want.Total}}
			} else {
				want := gpu.EstimateShape(s, tc.batch, tc.seq, tc.o)
				if r.GPU == nil || *r.GPU != want || r.CPU != nil {
					t.Fatalf("gpu %+v cpu %+v, want gpu %+v", r.GPU, r.CPU, want)
				}
				rows = [][2]any{{"weights", want.Weights}, {"trainable state", want.Trainable}, {"activations", want.Activations}, {"scratch", want.Scratch}, {"runtime", want.Runtime}, {"total", want.Total}}
			}
			table, err := runEstimateArgs(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range rows {
				b := row[1].(int64)
				line := fmt.Sprintf("%-20s %9.2f %15d\n", row[0], float64(b)/(1<<30), b)
				if !strings.Contains(table, line) {
					t.Errorf("table lacks %q:\n%s", line, table)
				}
			}
		})
	}
}

// TestEstimateCommandErrors: a bad config names its file and field; bad
// flags are usage errors naming the flag.
func TestEstimateCommandErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "config.json")
	if err := os.WriteFile(bad, []byte(`{"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 0}`), 0o644); err != nil {
		t.Fatal(err)
	}
	stories := filepath.Join(assets.Dir(t), "models", "stories260K")
	for _, tc := range []struct {
		name  string
		args  []string
		usage bool
		want  []string
	}{
		{"no-model", nil, true, []string{"usage: whet estimate"}},
		{"missing", []string{"--model", filepath.Join(dir, "nope")}, false, []string{"nope", "no such file"}},
		{"dir-without-config", []string{"--model", t.TempDir()}, false, []string{"config.json", "no such file"}},
		{"bad-field", []string{"--model", dir}, false, []string{bad, "field vocab_size"}},
		{"method", []string{"--model", stories, "--method", "dpo"}, true, []string{`method "dpo"`}},
		{"target", []string{"--model", stories, "--targets", "lm_head"}, true, []string{`lora target "lm_head"`}},
		{"seq", []string{"--model", stories, "--seq", "4096"}, true, []string{"--seq 4096 exceeds max_position_embeddings 512"}},
		{"device", []string{"--model", stories, "--device", "tpu"}, true, []string{`--device "tpu"`}},
		{"huge-batch", []string{"--model", stories, "--batch", "1000000000000"}, true, []string{"--batch must be at most 4096", "got 1000000000000"}},
		{"rank", []string{"--model", stories, "--rank", "0"}, true, []string{"--rank between 1 and 4096"}},
		{"cpu-ckpt", []string{"--model", stories, "--device", "cpu", "--gradient-checkpointing"}, true, []string{"--gradient-checkpointing applies to --device cuda only"}},
	} {
		_, err := runEstimateArgs(t, tc.args...)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if errors.Is(err, errUsage) != tc.usage {
			t.Errorf("%s: usage error %v, want %v: %v", tc.name, !tc.usage, tc.usage, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v, want one containing %q", tc.name, err, w)
			}
		}
	}
}
