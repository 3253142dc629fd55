// Package preflight checks a pipeline against what it will meet when it runs,
// before it is queued: dataset files and uploaded dataset ids exist,
// tokenizer and model folders hold a tokenizer and weights, LoRA targets are
// layers the model has, cross-field rules (chunk_overlap < chunk_tokens) and
// list values (validate's fail_on) hold. pipeline.Validate checks the shape
// and the params' schema; preflight checks the world. Every problem names its
// node and field, as a *pipeline.ValidationError, so the API answers 422 the
// same way.
package preflight

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/whetstone/whetstone/internal/data/check"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/safetensors"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// Files decides which local paths a pipeline may read and where they are
// (the server's file sandbox). Resolve returns the path to open, or an error
// saying why the path is refused.
type Files interface {
	Resolve(path string) (string, error)
}

// Datasets finds uploaded datasets by id.
type Datasets interface {
	GetDataset(ctx context.Context, id string) (*store.Dataset, error)
}

// Checker checks pipelines. WorkDir is the folder relative paths resolve
// against when Files is nil. A nil Datasets leaves references to stored
// objects (ds_..., mdl_..., blob:...) to the caller, which knows the team
// (the orchestrator's CheckSources); with Datasets, dataset ids are looked
// up through it, which must then find only the caller's team's.
type Checker struct {
	WorkDir  string
	Files    Files
	Datasets Datasets
}

// Check returns nil, or a *pipeline.ValidationError listing every problem.
// spec must have passed pipeline.Validate.
func (c *Checker) Check(ctx context.Context, spec *pipeline.Spec) error {
	var errs []pipeline.FieldError
	add := func(node, field, format string, args ...any) {
		errs = append(errs, pipeline.FieldError{Node: node, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	inputs := map[string][]string{} // node → agents feeding it
	agentOf := map[string]string{}
	for _, n := range spec.Nodes {
		agentOf[n.ID] = n.Agent
	}
	for _, e := range spec.Edges {
		inputs[e.To] = append(inputs[e.To], agentOf[e.From])
	}
	for _, n := range spec.Nodes {
		p := n.Params
		str := func(k string) string { s, _ := p[k].(string); return s }
		num := func(k string) (float64, bool) {
			switch v := p[k].(type) {
			case float64:
				return v, true
			case int:
				return float64(v), true
			case int64:
				return float64(v), true
			case json.Number:
				f, err := v.Float64()
				return f, err == nil
			}
			return 0, false
		}
		field := func(k string) string { return "params." + k }
		if tok := str("tokenizer"); tok != "" && !stored(tok) {
			// A registered model: the caller checks it is the team's and
			// keeps a tokenizer.
			if msg := c.tokenizer(tok); msg != "" {
				add(n.ID, field("tokenizer"), "%s", msg)
			}
		}
		switch n.Agent {
		case "dataset":
			src := strings.TrimSpace(str("source"))
			switch {
			case src == "":
				add(n.ID, field("source"), "required: a file path, an uploaded dataset id or an s3:// URI")
			case strings.Contains(src, "://"):
				// remote: the blob store resolves it when the node runs
			case stored(src) && c.Datasets == nil:
				// the caller checks stored references for the team
			case strings.HasPrefix(src, "ds_"):
				if _, err := c.Datasets.GetDataset(ctx, src); err != nil {
					if errors.Is(err, store.ErrNotFound) {
						add(n.ID, field("source"), "no uploaded dataset %q (upload it on the Datasets page, or give a file path)", src)
					} else {
						return fmt.Errorf("preflight: dataset %s: %w", src, err)
					}
				}
			default:
				if _, msg := c.path(src); msg != "" {
					add(n.ID, field("source"), "%s", msg)
				}
			}
		case "preprocess":
			ct, _ := num("chunk_tokens")
			co, _ := num("chunk_overlap")
			if co > 0 && ct > 0 && co >= ct {
				add(n.ID, field("chunk_overlap"), "%g must be less than chunk_tokens (%g): each chunk would start where the last one did", co, ct)
			} else if co > 0 && ct == 0 {
				add(n.ID, field("chunk_overlap"), "%g has no effect without chunk_tokens", co)
			}
			mn, _ := num("min_tokens")
			mx, ok := num("max_tokens")
			if ok && mx > 0 && mn > mx {
				add(n.ID, field("min_tokens"), "%g is more than max_tokens (%g): every row would be dropped", mn, mx)
			}
		case "validate":
			if l, ok := p["fail_on"].([]any); ok {
				for i, v := range l {
					s, _ := v.(string)
					if !check.FailOnValid(s) {
						add(n.ID, fmt.Sprintf("params.fail_on[%d]", i), "%q is not a finding kind (e.g. duplicate, pii.email), a category (encoding, fields, duplicates, pii, quality, structure) or a severity (error, warning)", v)
					}
				}
			}
		case "train":
			base := strings.TrimSpace(str("base_model"))
			fromInput := slices.ContainsFunc(inputs[n.ID], func(a string) bool { return a == "train" || a == "export" })
			var dir string
			switch {
			case base == "" && !fromInput:
				add(n.ID, field("base_model"), "required: a Hugging Face model folder (config.json and safetensors), unless a model is an input")
			case stored(base):
				// a registered model or an artifact: the caller checks it for the team
			case base != "":
				var msg string
				if dir, msg = c.model(base); msg != "" {
					add(n.ID, field("base_model"), "%s", msg)
					dir = ""
				}
			}
			if lora, ok := p["lora"].(map[string]any); ok {
				if t, ok := lora["targets"].(string); ok {
					if msg := loraTargets(t, dir); msg != "" {
						add(n.ID, "params.lora.targets", "%s", msg)
					}
				}
			}
		case "export":
			if m := strings.TrimSpace(str("model")); stored(m) {
				// a registered model or an artifact: the caller checks it for the team
			} else if m != "" {
				if _, msg := c.model(m); msg != "" {
					add(n.ID, field("model"), "%s", msg)
				}
			} else if len(inputs[n.ID]) == 0 {
				add(n.ID, field("model"), "required when no model is an input: connect a train node, or give a model folder")
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &pipeline.ValidationError{Errors: errs}
}

// path resolves a param path and stats it; msg says what is wrong.
func (c *Checker) path(ref string) (string, string) {
	p := ref
	if c.Files != nil {
		r, err := c.Files.Resolve(ref)
		if err != nil {
			return "", err.Error()
		}
		p = r
	} else if !filepath.IsAbs(p) {
		p = filepath.Join(c.WorkDir, p)
	}
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Sprintf("%q: no such file or folder (relative paths start in the server's working folder)", ref)
		}
		return "", fmt.Sprintf("%q: %v", ref, err)
	}
	return p, ""
}

// tokenizer checks a tokenizer param naming a folder: it must hold what
// tokenizer.Load reads (tokenizer.Holds).
func (c *Checker) tokenizer(ref string) string {
	p, msg := c.path(ref)
	if msg != "" {
		return msg
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return fmt.Sprintf("%q: a tokenizer is a folder (%s), or a registered model (mdl_...) that keeps one", ref, tokenizer.Needs)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !tokenizer.Holds(names) {
		return fmt.Sprintf("%q holds no tokenizer (%s)", ref, tokenizer.Needs)
	}
	return ""
}

func (c *Checker) model(ref string) (string, string) {
	p, msg := c.path(ref)
	if msg != "" {
		return "", msg
	}
	if _, err := os.Stat(filepath.Join(p, "config.json")); err != nil {
		return "", fmt.Sprintf("%q is not a Hugging Face model folder: no config.json", ref)
	}
	return p, ""
}

// loraLayers maps a target name to the projection its tensors are named for.
var loraLayers = []string{"q", "k", "v", "o", "gate", "up", "down"}

// loraTargets checks a targets param ("all-linear" or a comma list of
// q,k,v,o,gate,up,down) and, given the model folder, that the model has
// those projections.
func loraTargets(targets, dir string) string {
	t := strings.TrimSpace(targets)
	if t == "" || t == "all-linear" {
		return ""
	}
	var want []string
	for _, s := range strings.Split(t, ",") {
		s = strings.TrimSuffix(strings.TrimSpace(s), "_proj")
		if !slices.Contains(loraLayers, s) {
			return fmt.Sprintf("%q is not a target: use all-linear or a comma-separated subset of q,k,v,o,gate,up,down", strings.TrimSpace(s))
		}
		want = append(want, s)
	}
	if dir == "" {
		return ""
	}
	f, err := safetensors.OpenDir(dir)
	if err != nil {
		return "" // the base_model check reports unreadable weights when the node runs
	}
	defer f.Close()
	names := f.Names()
	var missing []string
	for _, w := range want {
		if !slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, "."+w+"_proj.") }) {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("the model has no %s projection layers (%s_proj)", strings.Join(missing, ", "), missing[0])
	}
	return ""
}

// stored reports whether ref names a stored object (an uploaded dataset, a
// registered model, a blob: artifact) rather than a path.
func stored(ref string) bool {
	return strings.HasPrefix(ref, "ds_") || strings.HasPrefix(ref, "mdl_") || strings.HasPrefix(ref, "blob:")
}
