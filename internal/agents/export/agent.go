// Package export is the pipeline agent that ships a trained model: a PEFT
// adapter, a merged Hugging Face model and GGUF files (plus a GGUF LoRA
// adapter and an Ollama Modelfile), each as a model artifact whose metadata
// lists its files with sizes and sha256.
package export

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/eval"
	"github.com/whetstone/whetstone/internal/export"
	"github.com/whetstone/whetstone/internal/export/card"
	"github.com/whetstone/whetstone/internal/export/convert"
	"github.com/whetstone/whetstone/internal/export/peft"
)

// ChecksFile is the report of the GGUF self-checks, in the node's folder.
const ChecksFile = "checks.json"

// Agent exports a model artifact.
type Agent struct{}

var _ agent.Agent = Agent{}

// New returns the export agent.
func New() agent.Agent { return Agent{} }

func fileTypeNames() []string {
	var s []string
	for _, t := range convert.FileTypes {
		s = append(s, string(t))
	}
	return s
}

// Spec declares the params used by shared/examples/stories-lora.yaml
// (formats, gguf_types, dtype) and the ports.
func (Agent) Spec() agent.Spec {
	return agent.Spec{
		Name:        "export",
		Category:    "export",
		Description: "Export a trained model as a PEFT adapter, a merged Hugging Face model and GGUF files (f32/f16/bf16/q8_0/q4_0/q4_k_m, a GGUF LoRA adapter and an Ollama Modelfile) for llama.cpp and Ollama.",
		Params: []agent.Param{
			{Name: "formats", Type: agent.Array, Items: agent.String, Enum: export.AllFormats, Default: []any{"adapter", "merged", "gguf"},
				Description: "adapter (PEFT folder; LoRA models only), merged (Hugging Face folder with the adapter merged), gguf (GGUF files and Modelfile; with adapter also a GGUF LoRA)"},
			{Name: "gguf_types", Type: agent.Array, Items: agent.String, Enum: fileTypeNames(), Default: []any{"f16"},
				Description: "GGUF precisions; the first one is the Modelfile's FROM"},
			{Name: "dtype", Type: agent.String, Enum: []string{"auto", "f32", "bf16", "f16"}, Default: "auto",
				Description: "merged model dtype; auto keeps the base model's torch_dtype"},
			{Name: "template", Type: agent.String, Enum: []string{"auto", "chatml", "llama3", "llama2", "alpaca", "raw"}, Default: "auto",
				Description: "chat template family of the Modelfile (and stored with models that have none); auto detects it from the model, alpaca when it has none"},
			{Name: "name", Type: agent.String, Description: "model name in GGUF metadata and file names (default: the base model folder name)"},
			{Name: "check", Type: agent.Boolean, Default: true,
				Description: "load every GGUF back and replay held-out prompts against the model it came from (greedy agreement, largest log-probability gap within the type's bounds), and check its chat template, stop tokens and Modelfile; a failed check fails the node"},
			{Name: "model", Type: agent.String, Kind: "model", Description: "model folder to export when no model artifact is an input (a base model, for GGUF conversion)"},
		},
		Inputs: []agent.Port{
			{Type: agent.Model, Name: "model", Description: "the train agent's output: a PEFT LoRA adapter (Meta base_model) or a full model folder"},
			{Type: agent.Report, Name: "comparison", Description: "optional: the compare agent's report, summarised in each folder's model card (README.md)"},
		},
		Outputs: []agent.Port{
			{Type: agent.Model, Name: "adapter", Description: "PEFT adapter folder"},
			{Type: agent.Model, Name: "merged", Description: "merged model, Hugging Face layout"},
			{Type: agent.Model, Name: "gguf", Description: "GGUF files, GGUF LoRA adapter, Ollama Modelfile"},
			{Type: agent.Report, Name: "checks", Description: "checks.json: {checks: [{file, type, greedy_agreement, max_logprob_gap, passed, ...}]}"},
		},
	}
}

// Run exports and returns one artifact per format.
func (Agent) Run(ctx context.Context, env *agent.Env) ([]agent.Artifact, error) {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	emit := env.Emit
	if emit == nil {
		emit = agent.Discard
	}
	var in agent.Artifact
	if a, ok := env.Input(agent.Model); ok {
		in = a
	} else if p := env.Params.String("model"); p != "" {
		path, err := env.Resolve(ctx, p, "model")
		if err != nil {
			return nil, agent.Permanent(fmt.Errorf("param model: %w", err))
		}
		in = agent.Artifact{Type: agent.Model, Path: path}
	} else {
		return nil, agent.Permanent(errors.New("export: no model input and param model is empty"))
	}
	o := &export.Options{Out: env.OutDir, Formats: env.Params.Strings("formats"), DType: env.Params.String("dtype"),
		Template: env.Params.String("template"), Name: env.Params.String("name"), Logger: log,
		Check:    !env.Params.Has("check") || env.Params.Bool("check"),
		Progress: func(f float64, msg string) { emit.Progress(f, 0, msg) }}
	for _, s := range env.Params.Strings("gguf_types") {
		ft, err := convert.ParseFileType(s)
		if err != nil {
			return nil, agent.Permanent(fmt.Errorf("param gguf_types: %w", err))
		}
		o.GGUFTypes = append(o.GGUFTypes, ft)
	}
	method, _ := in.Meta["method"].(string)
	if _, err := os.Stat(filepath.Join(in.Path, peft.ConfigFile)); err == nil {
		// a LoRA adapter: the base model comes from the artifact or adapter_config.json
		o.Adapter = in.Path
		base, _ := in.Meta["base_model"].(string)
		if base == "" {
			a, err := peft.Read(in.Path)
			if err != nil {
				return nil, agent.Permanent(err)
			}
			base = a.Config.BaseModelNameOrPath
		}
		if base == "" {
			return nil, agent.Permanent(errors.New("export: LoRA adapter without a base model (Meta base_model, base_model_name_or_path)"))
		}
		path, err := env.Resolve(ctx, base, "model")
		if err != nil {
			return nil, agent.Permanent(fmt.Errorf("base model %s: %w", base, err))
		}
		o.Model = path
		// The exported adapter names its base as the trained one did (the
		// pipeline's base_model as written), never by the server's folders.
		o.BaseName = filepath.Base(path)
		if a, err := peft.Read(in.Path); err == nil && a.Config.BaseModelNameOrPath != "" && !filepath.IsAbs(a.Config.BaseModelNameOrPath) {
			o.BaseName = a.Config.BaseModelNameOrPath
		}
		if method == "" {
			method = "lora"
		}
	} else {
		o.Model = in.Path
		if slices.Contains(o.Formats, export.FormatAdapter) {
			// a full model has no adapter to ship: export the rest
			o.Formats = slices.DeleteFunc(slices.Clone(o.Formats), func(f string) bool { return f == export.FormatAdapter })
			emit.Log(slog.LevelWarn, "the model has no LoRA adapter; skipping format adapter")
		}
		if len(o.Formats) == 0 {
			return nil, agent.Permanent(errors.New("export: nothing to export (format adapter needs a LoRA model)"))
		}
	}
	res, err := export.Run(ctx, o)
	if err != nil {
		if errors.Is(err, export.ErrBadInput) || errors.Is(err, export.ErrCheckFailed) {
			return nil, agent.Permanent(err)
		}
		return nil, err
	}
	baseModel, _ := in.Meta["base_model"].(string)
	if baseModel == "" {
		baseModel = o.Model
	}
	metrics := map[string]any{}
	for _, k := range []string{"final_loss", "final_val_loss", "initial_val_loss", "steps", "trainable_params"} {
		if v, ok := in.Meta[k]; ok {
			metrics[k] = v
		}
	}
	if m, ok := in.Meta["metrics"].(map[string]any); ok {
		for k, v := range m {
			metrics[k] = v
		}
	}
	var checks any // as JSON values, like every other Meta field once stored
	if res.Checks != nil {
		b, err := json.Marshal(res.Checks)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &checks); err != nil {
			return nil, err
		}
	}
	comparison, err := readComparison(env)
	if err != nil {
		return nil, agent.Permanent(err)
	}
	var lineage struct {
		BaseModel        string          `json:"base_model"`
		BaseModelVersion string          `json:"base_model_version"`
		Datasets         []card.Dataset  `json:"datasets"`
		Chain            []card.Ancestor `json:"chain"`
	}
	if l, ok := in.Meta["lineage"]; ok {
		if b, err := json.Marshal(l); err == nil {
			_ = json.Unmarshal(b, &lineage) // best effort: a card says "not recorded" for what it lacks
		}
	}
	hp, _ := in.Meta["hyperparameters"].(map[string]any)
	var arts []agent.Artifact
	for _, f := range o.Formats {
		var files []map[string]any
		var hashes []card.FileHash
		var size int64
		for _, x := range res.Files {
			if x.Format != f {
				continue
			}
			rel, _ := filepath.Rel(f, x.Path)
			files = append(files, map[string]any{"path": filepath.ToSlash(rel), "size": x.Size, "sha256": x.SHA256, "type": x.Type})
			hashes = append(hashes, card.FileHash{Path: filepath.ToSlash(rel), Size: x.Size, SHA256: x.SHA256, Type: x.Type})
			size += x.Size
		}
		c := &card.Card{Name: cmp.Or(o.Name, filepath.Base(o.Model)) + " (" + f + ")", Format: f, Arch: res.Arch, Template: res.Template,
			BaseModel: filepath.Base(cmp.Or(lineage.BaseModel, baseModel)), BaseModelVersion: lineage.BaseModelVersion, // a name, never a server path
			Chain: lineage.Chain, Datasets: lineage.Datasets, Method: cmp.Or(method, "base"),
			Hyperparameters: hp, Metrics: metrics, Comparison: comparison, Files: hashes}
		if f == export.FormatGGUF {
			c.Checks = res.Checks
		}
		dir := filepath.Join(env.OutDir, f)
		if err := card.Write(dir, c); err != nil {
			return nil, err
		}
		sum, n, err := export.HashFile(filepath.Join(dir, card.File))
		if err != nil {
			return nil, err
		}
		files = append(files, map[string]any{"path": card.File, "size": n, "sha256": sum, "type": "model_card"})
		size += n
		meta := map[string]any{"format": f, "base_model": baseModel, "method": cmp.Or(method, "base"), "metrics": metrics,
			"files": files, "size": size, "arch": res.Arch, "template": res.Template}
		if f == export.FormatGGUF {
			meta["gguf_types"] = env.Params.Strings("gguf_types")
			if res.Checks != nil {
				meta["checks"] = checks
			}
		}
		if f == export.FormatMerged {
			for _, x := range res.Files {
				if x.Format == f && x.Type != "" {
					meta["dtype"] = x.Type // resolved when the param is auto
				}
			}
		}
		arts = append(arts, agent.Artifact{Type: agent.Model, Name: f, Path: f, Meta: meta})
	}
	if res.Checks != nil {
		b, err := json.MarshalIndent(map[string]any{"checks": res.Checks}, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(env.OutDir, ChecksFile), b, 0o644); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		arts = append(arts, agent.Artifact{Type: agent.Report, Name: "checks", Path: ChecksFile, Meta: map[string]any{"checks": checks}})
		for _, c := range res.Checks {
			emit.Log(slog.LevelInfo, "export check", slog.String("file", c.File), slog.Float64("greedy_agreement", c.GreedyAgreement),
				slog.Float64("max_logprob_gap", c.MaxLogprobGap), slog.Bool("passed", c.Passed))
		}
	}
	if ac := res.AdapterCheck; ac != nil {
		emit.Log(slog.LevelInfo, "export adapter check", slog.String("file", ac.File), slog.Int("tensors", ac.Tensors),
			slog.Float64("max_abs_error", ac.MaxAbsError), slog.Bool("passed", ac.Passed))
	}
	emit.Log(slog.LevelInfo, "export done", slog.Int("files", len(res.Files)))
	return arts, nil
}

// readComparison reads the compare agent's report when one is an input.
func readComparison(env *agent.Env) (*eval.Comparison, error) {
	for _, a := range env.InputsOf(agent.Report) {
		if kind, _ := a.Meta["kind"].(string); a.Name != eval.KindComparison && kind != eval.KindComparison {
			continue
		}
		b, err := os.ReadFile(a.Path)
		if err != nil {
			return nil, fmt.Errorf("comparison report: %w", err)
		}
		var c eval.Comparison
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("comparison report %s: %w", a.Path, err)
		}
		return &c, nil
	}
	return nil, nil
}
