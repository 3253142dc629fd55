package evaluate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/eval"
)

// byteTok tokenizes bytes: id = byte + 3, BOS 1, EOS 2.
type byteTok struct{}

func (byteTok) Encode(s string, special bool) []int {
	var out []int
	if special {
		out = append(out, 1)
	}
	for _, b := range []byte(s) {
		out = append(out, int(b)+3)
	}
	return out
}

func (byteTok) Decode(ids []int, skip bool) string {
	var b []byte
	for _, id := range ids {
		if id >= 3 {
			b = append(b, byte(id-3))
		}
	}
	return string(b)
}

func (byteTok) EOS() (int, bool) { return 2, true }

// echoModel answers "ok" and charges 1 per token.
type echoModel struct{}

func (echoModel) Loss(_ context.Context, ids, labels []int) (float64, int, error) {
	n := 0
	for _, l := range labels {
		if l != eval.IgnoreIndex {
			n++
		}
	}
	return float64(n), n, nil
}

func (echoModel) Generate(context.Context, []int, eval.GenerateOptions) ([]int, error) {
	return byteTok{}.Encode("ok", false), nil
}

type loadCall struct{ base, adapter string }

func fakeLoader(calls *[]loadCall) eval.Loader {
	return func(_ context.Context, base, adapter string) (eval.Model, eval.Tokenizer, error) {
		*calls = append(*calls, loadCall{base, adapter})
		return echoModel{}, byteTok{}, nil
	}
}

func defaults() agent.Params {
	p := agent.Params{}
	for _, d := range Params() {
		if d.Default != nil {
			p[d.Name] = d.Default
		}
	}
	return p
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSpecKeepsPipelineContract(t *testing.T) {
	t.Parallel()
	// shared/examples/stories-lora.yaml sets these.
	s := New(nil).Spec()
	byName := map[string]agent.Param{}
	for _, p := range s.Params {
		byName[p.Name] = p
	}
	for _, name := range []string{"metrics", "max_new_tokens", "samples", "temperature", "judge_url", "judge_key", "judge_model", "seed"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("param %q missing", name)
		}
	}
	if byName["judge_key"].Kind != "secret" {
		t.Error("judge_key is not marked secret")
	}
	for _, m := range []string{"loss", "perplexity", "exact_match", "token_f1", "rouge_l", "bleu", "accuracy", "macro_f1", "judge"} {
		if !slices.Contains(byName["metrics"].Enum, m) {
			t.Errorf("metric %q not in the enum", m)
		}
	}
	if s.Name != "evaluate" || len(s.Inputs) != 2 || s.Outputs[0].Type != agent.Report {
		t.Errorf("spec %+v", s)
	}
}

func TestRunWithAdapterAndPlainModel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "data", "validation.jsonl"), `{"text":"Q: hi\nA: ok","prompt":"Q: hi\nA:"}`+"\n"+`{"text":"Q: yo\nA: no","prompt":"Q: yo\nA:"}`+"\n")
	write(t, filepath.Join(dir, "adapter", "adapter_config.json"), `{"peft_type":"LORA","r":8,"base_model_name_or_path":"/models/base-from-config"}`)
	write(t, filepath.Join(dir, "adapter", "history.jsonl"), `{"step":1,"loss":2}`+"\n")
	write(t, filepath.Join(dir, "full", "config.json"), `{}`)
	tests := []struct {
		name     string
		model    agent.Artifact
		wantLoad loadCall
		wantRef  eval.ModelRef
	}{
		{"adapter with meta", agent.Artifact{Type: agent.Model, Path: filepath.Join(dir, "adapter"), Meta: map[string]any{"base_model": "/models/base"}},
			loadCall{"/models/base", filepath.Join(dir, "adapter")},
			eval.ModelRef{Path: filepath.Join(dir, "adapter"), BaseModel: "/models/base", Adapter: filepath.Join(dir, "adapter"), History: filepath.Join(dir, "adapter", "history.jsonl")}},
		{"adapter config names base", agent.Artifact{Type: agent.Model, Path: filepath.Join(dir, "adapter")},
			loadCall{"/models/base-from-config", filepath.Join(dir, "adapter")},
			eval.ModelRef{Path: filepath.Join(dir, "adapter"), BaseModel: "/models/base-from-config", Adapter: filepath.Join(dir, "adapter"), History: filepath.Join(dir, "adapter", "history.jsonl")}},
		{"full fine-tune", agent.Artifact{Type: agent.Model, Path: filepath.Join(dir, "full"), Meta: map[string]any{"base_model": "/models/base"}},
			loadCall{filepath.Join(dir, "full"), ""},
			eval.ModelRef{Path: filepath.Join(dir, "full"), BaseModel: "/models/base"}},
		// In a pipeline: the report records references, not this worker's copy,
		// and a base the platform stores is resolved through it.
		{"stored adapter on a produced model", agent.Artifact{Type: agent.Model, Path: filepath.Join(dir, "adapter"), URI: "jobs/job_1/tune/model/", Meta: map[string]any{"base_model": "mdl_base"}},
			loadCall{"/scratch/mdl_base", filepath.Join(dir, "adapter")},
			eval.ModelRef{Path: "blob:jobs/job_1/tune/model/", BaseModel: "mdl_base", Adapter: "blob:jobs/job_1/tune/model/", History: "blob:jobs/job_1/tune/model/history.jsonl", URI: "jobs/job_1/tune/model/"}},
		{"stored full fine-tune", agent.Artifact{Type: agent.Model, Path: filepath.Join(dir, "full"), URI: "jobs/job_1/tune/model/", Meta: map[string]any{"base_model": "/models/base"}},
			loadCall{filepath.Join(dir, "full"), ""},
			eval.ModelRef{Path: "blob:jobs/job_1/tune/model/", BaseModel: "/models/base", URI: "jobs/job_1/tune/model/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls []loadCall
			out := t.TempDir()
			p := defaults()
			p["metrics"] = []any{"loss", "exact_match", "accuracy", "macro_f1"}
			arts, err := New(fakeLoader(&calls)).Run(t.Context(), &agent.Env{Params: p, OutDir: out,
				Inputs: []agent.Artifact{tt.model, {Type: agent.Dataset, Path: filepath.Join(dir, "data")}},
				ResolveSource: func(_ context.Context, ref, kind string) (string, error) {
					if ref != "mdl_base" || kind != "model" {
						return "", fmt.Errorf("unexpected resolve of %q as %q", ref, kind)
					}
					return "/scratch/mdl_base", nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			if len(calls) != 1 || calls[0] != tt.wantLoad {
				t.Errorf("loader calls %+v, want %+v", calls, tt.wantLoad)
			}
			e, err := eval.ReadEvaluation(filepath.Join(out, arts[0].Path))
			if err != nil {
				t.Fatal(err)
			}
			if e.Model != tt.wantRef {
				t.Errorf("model ref %+v, want %+v", e.Model, tt.wantRef)
			}
			// "ok" is right on row 0 only.
			if e.Results["exact_match"] != 0.5 || e.Results["accuracy"] != 0.5 || len(e.Samples) != 2 {
				t.Errorf("results %v", e.Results)
			}
			// Loss counts the answer bytes and EOS: " ok" + EOS and " no" + EOS.
			if e.Results["loss"] != 1 || e.Loss[0].Tokens != 4 {
				t.Errorf("loss %v, rows %+v", e.Results["loss"], e.Loss)
			}
			if e.Dataset.File != filepath.Join(dir, "data", "validation.jsonl") || e.Dataset.Rows != 2 {
				t.Errorf("dataset ref %+v", e.Dataset)
			}
		})
	}
}

func TestPickDataset(t *testing.T) {
	t.Parallel()
	env := &agent.Env{Inputs: []agent.Artifact{
		{Type: agent.Model, Name: "validation"},
		{Type: agent.Dataset, Name: "train", Path: "t"},
		{Type: agent.Dataset, Name: "validation", Path: "v"},
	}}
	if a, ok := PickDataset(env); !ok || a.Path != "v" {
		t.Errorf("PickDataset = %+v, %v; want the validation split", a, ok)
	}
	env.Inputs = env.Inputs[:2]
	if a, ok := PickDataset(env); !ok || a.Path != "t" {
		t.Errorf("PickDataset = %+v, %v; want the only dataset", a, ok)
	}
	if _, ok := PickDataset(&agent.Env{}); ok {
		t.Error("PickDataset found a dataset in no inputs")
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "model", "config.json"), `{}`)
	write(t, filepath.Join(dir, "noval", "train.jsonl"), `{"text":"a"}`)
	write(t, filepath.Join(dir, "bad", "validation.jsonl"), `{"text":"a","prompt":"a"}`+"\n"+`{"prompt":"x"}`+"\n")
	write(t, filepath.Join(dir, "ok", "validation.jsonl"), `{"text":"a b","prompt":"a"}`+"\n")
	write(t, filepath.Join(dir, "nobase", "adapter_config.json"), `{"r":8}`)
	model := agent.Artifact{Type: agent.Model, Path: filepath.Join(dir, "model")}
	ds := func(name string) agent.Artifact {
		return agent.Artifact{Type: agent.Dataset, Path: filepath.Join(dir, name)}
	}
	tests := []struct {
		name      string
		inputs    []agent.Artifact
		params    agent.Params
		want      string
		permanent bool
	}{
		{"no model", []agent.Artifact{ds("ok")}, nil, "no model input", true},
		{"no validation split", []agent.Artifact{model, ds("noval")}, nil, "has no validation.jsonl", true},
		{"bad row", []agent.Artifact{model, ds("bad")}, nil, `validation.jsonl:2: field "text"`, true},
		{"adapter without base", []agent.Artifact{{Type: agent.Model, Path: filepath.Join(dir, "nobase")}, ds("ok")}, nil, "names no base model", true},
		{"missing model", []agent.Artifact{{Type: agent.Model, Path: filepath.Join(dir, "gone")}, ds("ok")}, nil, "no such file", true},
		{"judge without url", []agent.Artifact{model, ds("ok")}, agent.Params{"metrics": []any{"judge"}}, "judge needs judge_url", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls []loadCall
			p := defaults()
			for k, v := range tt.params {
				p[k] = v
			}
			_, err := New(fakeLoader(&calls)).Run(t.Context(), &agent.Env{Params: p, Inputs: tt.inputs, OutDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			if agent.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v, want %v", agent.IsPermanent(err), tt.permanent)
			}
		})
	}
}

func TestRunCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "model", "config.json"), `{}`)
	write(t, filepath.Join(dir, "ok", "validation.jsonl"), `{"text":"a b","prompt":"a"}`+"\n")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var calls []loadCall
	_, err := New(fakeLoader(&calls)).Run(ctx, &agent.Env{Params: defaults(), OutDir: t.TempDir(), Inputs: []agent.Artifact{
		{Type: agent.Model, Path: filepath.Join(dir, "model")}, {Type: agent.Dataset, Path: filepath.Join(dir, "ok")}}})
	if !errors.Is(err, context.Canceled) || agent.IsPermanent(err) {
		t.Errorf("error %v, want context.Canceled, not permanent", err)
	}
}
