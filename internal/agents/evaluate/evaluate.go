// Package evaluate is the evaluate agent: loss and perplexity of a model on
// the validation split of a preprocessed dataset, and generation on a sample
// of its rows scored with text, classification and LLM-judge metrics. Its
// report carries everything the compare agent needs to re-run the base
// model on the same samples.
package evaluate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/eval"
	"github.com/whetstone/whetstone/internal/gpus"
)

// ReportFile is the name of the evaluation report in the output folder.
const ReportFile = "evaluation.json"

// Agent is the evaluate agent.
type Agent struct {
	models Models
}

// New returns the evaluate agent loading models with load; nil means
// Whetstone's engine on the device of the device param
// (enginemodel.LoadOn).
func New(load eval.Loader) agent.Agent {
	return &Agent{models: Models{Load: load, GPUs: gpus.Default}}
}

// Spec implements agent.Agent.
func (a *Agent) Spec() agent.Spec {
	return agent.Spec{
		Name:        "evaluate",
		Description: "Loss and perplexity on the validation split, and generation on held-out rows scored with exact match, token F1, ROUGE-L, BLEU, accuracy, macro-F1 and an optional LLM judge.",
		Category:    "evaluation",
		Params:      Params(),
		Inputs: []agent.Port{
			{Type: agent.Model, Name: "model", Description: "a fine-tuned model: a PEFT adapter folder (meta base_model) or a model folder", Required: true},
			{Type: agent.Dataset, Name: "dataset", Description: "a preprocessed dataset folder with validation.jsonl (rows with text and prompt), or one JSONL file", Required: true},
		},
		Outputs: []agent.Port{{Type: agent.Report, Name: eval.KindEvaluation, Description: "evaluation.json: metrics, every sample's prompt, reference, output and scores"}},
	}
}

// Params are the evaluate agent's params (shared with compare for the
// judge settings).
func Params() []agent.Param {
	return []agent.Param{
		{Name: "metrics", Type: agent.Array, Items: agent.String, Enum: eval.AllMetrics,
			Default:     []any{eval.MetricLoss, eval.MetricPerplexity, eval.MetricRougeL},
			Description: "metrics to compute. Defaults to loss, perplexity and rouge_l."},
		{Name: "max_new_tokens", Type: agent.Integer, Default: 64, Min: agent.F64(1), Max: agent.F64(8192),
			Description: "most tokens generated per sample. Defaults to 64."},
		{Name: "samples", Type: agent.Integer, Default: 50, Min: agent.F64(0), Max: agent.F64(100000),
			Description: "how many validation rows to generate on, picked at random with seed (all when larger than the split). Defaults to 50."},
		{Name: "temperature", Type: agent.Number, Default: 0.0, Min: agent.F64(0), Max: agent.F64(5),
			Description: "sampling temperature; 0 decodes greedily. Defaults to 0."},
		{Name: "seed", Type: agent.Integer, Default: 42, Min: agent.F64(-(1 << 53)), Max: agent.F64(1 << 53), Description: "seed for sample choice and sampling. Defaults to 42."},
		{Name: "judge_url", Type: agent.String, Kind: "url",
			Description: "base URL of an OpenAI-compatible API (POST {judge_url}/chat/completions), e.g. http://localhost:8000/v1; setting it adds the judge metric. Off when empty."},
		{Name: "judge_key", Type: agent.String, Kind: "secret", Description: "API key for judge_url, sent as a bearer token."},
		{Name: "judge_model", Type: agent.String, Description: "model name the judge endpoint serves."},
		DeviceParam(),
	}
}

// Run implements agent.Agent.
func (a *Agent) Run(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	emit := env.Emit
	if emit == nil {
		emit = agent.Discard
	}
	mArt, ok := env.Input(agent.Model)
	if !ok {
		return nil, agent.Permanent(errors.New("evaluate: no model input"))
	}
	dArt, ok := PickDataset(env)
	if !ok {
		return nil, agent.Permanent(errors.New("evaluate: no dataset input"))
	}
	ref, err := ResolveModel(mArt)
	if err != nil {
		return nil, agent.Permanent(err)
	}
	file, err := ValidationFile(dArt.Path)
	if err != nil {
		return nil, agent.Permanent(err)
	}
	rows, err := eval.ReadRows(file)
	if err != nil {
		return nil, agent.Permanent(err)
	}
	if len(rows) == 0 {
		return nil, agent.Permanent(fmt.Errorf("evaluate: %s has no rows", file))
	}
	p := env.Params
	opt := eval.Options{
		Metrics:      p.Strings("metrics"),
		MaxNewTokens: p.Int("max_new_tokens"),
		Samples:      p.Int("samples"),
		Temperature:  p.Float("temperature"),
		Seed:         int64(p.Int("seed")),
		Progress:     func(f float64, eta time.Duration, msg string) { emit.Progress(f, eta, msg) },
	}
	if slices.Contains(opt.Metrics, eval.MetricJudge) && p.String("judge_url") == "" {
		return nil, agent.Permanent(errors.New("evaluate: metric judge needs judge_url (an OpenAI-compatible API base URL)"))
	}
	if p.String("judge_url") != "" {
		// Setting a judge endpoint turns the judge metric on.
		if !slices.Contains(opt.Metrics, eval.MetricJudge) {
			opt.Metrics = append(slices.Clone(opt.Metrics), eval.MetricJudge)
		}
		jc := eval.NewJudgeClient(p.String("judge_url"), p.String("judge_key"), p.String("judge_model"))
		if env.HTTP != nil {
			jc.HTTP = env.HTTP
		}
		opt.Judge = jc
	}
	base := loadBase(ref)
	if agent.IsRef(base) && env.ResolveSource != nil {
		// A base model the platform stores (a produced model, a blob).
		if base, err = env.ResolveSource(ctx, base, "model"); err != nil {
			return nil, fmt.Errorf("evaluate: base model: %w", err)
		}
	}
	emit.Progress(0, 0, "loading model")
	lm, err := a.models.LoadModel(ctx, LoadRequest{Device: p.String("device"), Base: base, Adapter: ref.Adapter,
		Node: env.JobID + "/" + env.NodeID, OnGPUWait: GPUWait(emit), Logger: log})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	defer lm.Close()
	m, tok, dev := lm.Model, lm.Tokenizer, lm.Device
	log.InfoContext(ctx, "evaluating", slog.String("model", eval.DisplayPath(ref.Path)), slog.String("split", filepath.Base(file)),
		slog.Int("rows", len(rows)), slog.Any("metrics", opt.Metrics), slog.String("device", dev))
	e, err := eval.Evaluate(ctx, m, tok, rows, opt)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	// The report names the model and the split by references the platform
	// resolves on any worker (compare may run elsewhere), never by where
	// this worker read them.
	e.Model = RecordModel(mArt, ref)
	e.Device = dev
	e.Dataset = eval.DatasetRef{Path: dArt.Ref(dArt.Path), Split: "validation", File: dArt.Ref(file), Rows: len(rows), URI: dArt.URI}
	for _, w := range e.Warnings {
		emit.Log(slog.LevelWarn, w)
	}
	emit.Metrics(len(e.Samples), e.Results)
	if err := WriteJSON(filepath.Join(env.OutDir, ReportFile), e); err != nil {
		return nil, err
	}
	emit.Progress(1, 0, "done")
	meta := map[string]any{"kind": eval.KindEvaluation, "metrics": e.Results, "samples": len(e.Samples),
		"model": e.Model.Path, "base_model": e.Model.BaseModel, "device": dev}
	return []agent.Artifact{{Type: agent.Report, Name: eval.KindEvaluation, Path: ReportFile, Meta: meta}}, nil
}

// RecordModel is ref, resolved from the model artifact a (ResolveModel), as
// reports record it: each path inside the artifact as a portable reference
// (agent.Artifact.Ref: "blob:jobs/JOB/NODE/model/history.json"), and URI
// the artifact's blob key. Paths outside it (a base model folder the
// pipeline named) are kept; with no URI (an artifact that was never
// stored) ref is returned as it is.
func RecordModel(a agent.Artifact, ref eval.ModelRef) eval.ModelRef {
	ref.Path, ref.Adapter, ref.BaseModel, ref.History = a.Ref(ref.Path), a.Ref(ref.Adapter), a.Ref(ref.BaseModel), a.Ref(ref.History)
	ref.URI = a.URI
	return ref
}

// PickDataset returns the dataset input to evaluate on: one named
// "validation" (or "val", "valid", "eval", "test") when a predecessor emits
// its splits separately, else the first dataset input.
func PickDataset(env *agent.Env) (agent.Artifact, bool) {
	ds := env.InputsOf(agent.Dataset)
	for _, name := range []string{"validation", "val", "valid", "eval", "test"} {
		for _, a := range ds {
			if a.Name == name {
				return a, true
			}
		}
	}
	if len(ds) == 0 {
		return agent.Artifact{}, false
	}
	return ds[0], true
}

// loadBase is the folder whose weights are loaded: the base model under an
// adapter, else the model folder itself.
func loadBase(ref eval.ModelRef) string {
	if ref.Adapter != "" {
		return ref.BaseModel
	}
	return ref.Path
}

// ResolveModel works out what a model artifact is: a PEFT adapter folder
// (adapter_config.json) on top of Meta["base_model"] (else the adapter
// config's base_model_name_or_path), or a plain model folder whose base, for
// comparison, is Meta["base_model"] when set. It also finds the training
// history (Meta["history"], else a file named in eval.HistoryFiles).
func ResolveModel(a agent.Artifact) (eval.ModelRef, error) {
	ref := eval.ModelRef{Path: a.Path}
	if a.Path == "" {
		return ref, errors.New("evaluate: the model artifact has no path")
	}
	st, err := os.Stat(a.Path)
	if err != nil {
		return ref, fmt.Errorf("evaluate: model: %w", err)
	}
	dir := a.Path
	if !st.IsDir() {
		return ref, fmt.Errorf("evaluate: model %s is a file; want a model or adapter folder", a.Path)
	}
	base, _ := a.Meta["base_model"].(string)
	if _, err := os.Stat(filepath.Join(dir, "adapter_config.json")); err == nil {
		ref.Adapter = dir
		if base == "" {
			var ac struct {
				Base string `json:"base_model_name_or_path"`
			}
			b, err := os.ReadFile(filepath.Join(dir, "adapter_config.json"))
			if err == nil {
				err = json.Unmarshal(b, &ac)
			}
			if err != nil {
				return ref, fmt.Errorf("evaluate: %s: %w", filepath.Join(dir, "adapter_config.json"), err)
			}
			base = ac.Base
		}
		if base == "" {
			return ref, fmt.Errorf("evaluate: adapter %s names no base model (meta base_model or base_model_name_or_path)", dir)
		}
	}
	if base == "" {
		base = a.Path
	}
	ref.BaseModel = base
	if h, _ := a.Meta["history"].(string); h != "" {
		if !filepath.IsAbs(h) {
			h = filepath.Join(dir, h)
		}
		ref.History = h
	} else {
		ref.History = eval.FindHistory(dir)
	}
	return ref, nil
}

// ValidationFile finds the validation split of a dataset artifact: the file
// itself, or validation.jsonl (else val.jsonl, valid.jsonl, eval.jsonl,
// test.jsonl) in
// a folder.
func ValidationFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("evaluate: dataset: %w", err)
	}
	if !st.IsDir() {
		return path, nil
	}
	for _, name := range []string{"validation.jsonl", "val.jsonl", "valid.jsonl", "eval.jsonl", "test.jsonl"} {
		p := filepath.Join(path, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("evaluate: dataset folder %s has no validation.jsonl (set validation_split in preprocess)", path)
}

// WriteJSON writes v as indented JSON to path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
