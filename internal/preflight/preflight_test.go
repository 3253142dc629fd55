package preflight_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/export"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/agents/preprocess"
	"github.com/whetstone/whetstone/internal/agents/train"
	"github.com/whetstone/whetstone/internal/agents/validate"
	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/preflight"
	"github.com/whetstone/whetstone/internal/safetensors"
	"github.com/whetstone/whetstone/internal/store"
)

type datasets map[string]bool

func (d datasets) GetDataset(_ context.Context, id string) (*store.Dataset, error) {
	if d[id] {
		return &store.Dataset{ID: id}, nil
	}
	return nil, store.ErrNotFound
}

// sandbox resolves relative paths against base and refuses paths outside
// allow, as the server's file sandbox does.
type sandbox struct {
	base  string
	allow []string
}

func (s sandbox) Resolve(p string) (string, error) {
	abs := p
	if !filepath.IsAbs(p) {
		abs = filepath.Join(s.base, p)
	}
	for _, a := range s.allow {
		if strings.HasPrefix(filepath.Clean(abs), a) {
			return abs, nil
		}
	}
	return "", errors.New(p + ": outside the allowed folders")
}

func TestCheck(t *testing.T) {
	root := assets.RepoRoot(t)
	data := "../shared/assets/datasets/llama-factory/alpaca_en_demo.json"
	model := "../shared/assets/models/stories260K"
	// a model with attention projections only: LoRA on the MLP has nothing to adapt
	attnOnly := t.TempDir()
	os.WriteFile(filepath.Join(attnOnly, "config.json"), []byte(`{"model_type":"llama"}`), 0o644)
	f, _ := os.Create(filepath.Join(attnOnly, "model.safetensors"))
	var ts []safetensors.Tensor
	for _, p := range []string{"q", "k", "v", "o"} {
		ts = append(ts, safetensors.F32Tensor("model.layers.0.self_attn."+p+"_proj.weight", []int{2, 2}, make([]float32, 4)))
	}
	if err := safetensors.Write(f, ts, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// tokenizer_config.json alone: tokenizer.Load would find no vocabulary
	configOnly := t.TempDir()
	os.WriteFile(filepath.Join(configOnly, "tokenizer_config.json"), []byte(`{}`), 0o644)

	cases := []struct {
		name string
		spec string
		want []string // "node field: message part", in order; none: valid
	}{
		{"shared example is valid", `
name: ok
nodes:
  - {id: data, agent: dataset, params: {source: ` + data + `, tokenizer: ` + model + `}}
  - {id: v, agent: validate, params: {fail_on: [unreadable, pii, error, pii.email, duplicate]}}
  - {id: prep, agent: preprocess, params: {chunk_tokens: 128, chunk_overlap: 16}}
  - {id: train, agent: train, params: {base_model: ` + model + `, lora: {targets: "q,v,gate"}}}
edges: [{from: data, to: v}, {from: v, to: prep}, {from: prep, to: train}]`, nil},
		{"uploaded dataset id", `
name: ok
nodes: [{id: data, agent: dataset, params: {source: ds_known}}]`, nil},
		{"missing file, misspelt tokenizer, unknown upload", `
name: bad
nodes:
  - {id: a, agent: dataset, params: {source: ../shared/assets/datasets/nope.json, tokenizer: ../shared/assets/models/stories26K}}
  - {id: b, agent: dataset, params: {source: ds_gone}}
  - {id: c, agent: dataset, params: {source: "  "}}`, []string{
			`a params.tokenizer: "../shared/assets/models/stories26K": no such file or folder`,
			`a params.source: "../shared/assets/datasets/nope.json": no such file or folder`,
			`b params.source: no uploaded dataset "ds_gone"`,
			`c params.source: required`,
		}},
		{"a folder without a tokenizer", `
name: bad
nodes: [{id: a, agent: dataset, params: {source: ` + data + `, tokenizer: ../shared/assets/datasets}}]`, []string{
			`a params.tokenizer: "../shared/assets/datasets" holds no tokenizer`,
		}},
		{"a folder with tokenizer_config.json but no vocabulary", `
name: bad
nodes: [{id: a, agent: dataset, params: {source: ` + data + `, tokenizer: ` + configOnly + `}}]`, []string{
			`a params.tokenizer: "` + configOnly + `" holds no tokenizer (tokenizer.json or tokenizer.model)`,
		}},
		{"a registered model as a tokenizer is the caller's to check", `
name: ok
nodes:
  - {id: data, agent: dataset, params: {source: ` + data + `, tokenizer: mdl_somemodel}}
  - {id: prep, agent: preprocess, params: {tokenizer: mdl_somemodel}}
edges: [{from: data, to: prep}]`, nil},
		{"cross-field and enum rules", `
name: bad
nodes:
  - {id: data, agent: dataset, params: {source: ` + data + `}}
  - {id: v, agent: validate, params: {fail_on: [unreadable, bogus]}}
  - {id: prep, agent: preprocess, params: {chunk_tokens: 64, chunk_overlap: 64, min_tokens: 500, max_tokens: 100}}
edges: [{from: data, to: v}, {from: v, to: prep}]`, []string{
			`v params.fail_on[1]: "bogus" is not a finding kind`,
			`prep params.chunk_overlap: 64 must be less than chunk_tokens (64)`,
			`prep params.min_tokens: 500 is more than max_tokens (100)`,
		}},
		{"empty base model; LoRA targets the model lacks; a bad target", `
name: bad
nodes:
  - {id: data, agent: dataset, params: {source: ` + data + `}}
  - {id: t1, agent: train}
  - {id: t2, agent: train, params: {base_model: ` + attnOnly + `, lora: {targets: "q,gate,down"}}}
  - {id: t3, agent: train, params: {base_model: ` + model + `, lora: {targets: "q,mlp"}}}
  - {id: t4, agent: train, params: {base_model: ../shared/assets/datasets}}
edges: [{from: data, to: t1}, {from: data, to: t2}, {from: data, to: t3}, {from: data, to: t4}]`, []string{
			`t1 params.base_model: required`,
			`t2 params.lora.targets: the model has no gate, down projection layers`,
			`t3 params.lora.targets: "mlp" is not a target`,
			`t4 params.base_model: "../shared/assets/datasets" is not a Hugging Face model folder: no config.json`,
		}},
		{"a model input stands in for base_model; export needs a model", `
name: ok
nodes:
  - {id: data, agent: dataset, params: {source: ` + data + `}}
  - {id: t1, agent: train, params: {base_model: ` + model + `}}
  - {id: t2, agent: train}
  - {id: x, agent: export}
edges: [{from: data, to: t1}, {from: data, to: t2}, {from: t1, to: t2}]`, []string{
			`x params.model: required when no model is an input`,
		}},
	}
	reg := agents(t)
	for _, sb := range []bool{false, true} {
		c := &preflight.Checker{WorkDir: root, Datasets: datasets{"ds_known": true}}
		if sb {
			c = &preflight.Checker{Files: sandbox{root, []string{filepath.Dir(root), os.TempDir()}}, Datasets: datasets{"ds_known": true}}
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				spec, err := pipeline.Parse([]byte(tc.spec))
				if err != nil {
					t.Fatal(err)
				}
				v, err := pipeline.Validate(spec, reg)
				if err != nil {
					t.Fatalf("schema: %v", err)
				}
				err = c.Check(context.Background(), v)
				var ve *pipeline.ValidationError
				if tc.want == nil {
					if err != nil {
						t.Fatalf("want valid, got %v", err)
					}
					return
				}
				if !errors.As(err, &ve) {
					t.Fatalf("want a ValidationError, got %v", err)
				}
				if len(ve.Errors) != len(tc.want) {
					t.Fatalf("got %d errors, want %d: %v", len(ve.Errors), len(tc.want), err)
				}
				for i, w := range tc.want {
					e := ve.Errors[i]
					got := e.Node + " " + e.Field + ": " + e.Message
					if !strings.HasPrefix(got, w) {
						t.Errorf("error %d = %q, want prefix %q", i, got, w)
					}
				}
			})
		}
	}
}

func TestSandboxRefusal(t *testing.T) {
	c := &preflight.Checker{Files: sandbox{"/nowhere", []string{"/nowhere"}}}
	spec, _ := pipeline.Parse([]byte(`{name: x, nodes: [{id: a, agent: dataset, params: {source: /etc/passwd}}]}`))
	v, err := pipeline.Validate(spec, agents(t))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Check(context.Background(), v)
	if err == nil || !strings.Contains(err.Error(), "outside the allowed folders") {
		t.Fatalf("want the sandbox's refusal on source, got %v", err)
	}
}

func agents(t *testing.T) *agent.Registry {
	var r agent.Registry
	for _, a := range []agent.Agent{ingest.New(), validate.New(), preprocess.New(), train.New(), export.New()} {
		if err := r.Register(a); err != nil {
			t.Fatal(err)
		}
	}
	return &r
}
