// Package card writes model cards: the README.md of each exported folder,
// saying where the model came from (base model, datasets with their
// versions), how it was trained (method, hyperparameters), how it did
// (training metrics, the comparison with its base when one was run, the
// GGUF self-checks) and the sha256 of every file next to it.
package card

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/whetstone/whetstone/internal/eval"
	"github.com/whetstone/whetstone/internal/export/verify"
)

// File is the name of a model card in an exported folder.
const File = "README.md"

// Dataset is one dataset the model was trained or evaluated on.
type Dataset struct {
	ID      string `json:"dataset_id,omitempty"` // an uploaded dataset
	Name    string `json:"name,omitempty"`
	Source  string `json:"source,omitempty"` // a path, for files read in place
	Version string `json:"version"`          // "sha256:<hex>" of its bytes
}

// Ancestor is one model of a Card's Chain: the original base by BaseModel
// (a folder name) or a registered model by ModelID, Name and JobID, each
// with its content Version and, for a registered model, the Datasets its
// job read.
type Ancestor struct {
	ModelID   string    `json:"model_id"`
	Name      string    `json:"name"`
	BaseModel string    `json:"base_model"`
	Version   string    `json:"version"`
	JobID     string    `json:"job_id"`
	Datasets  []Dataset `json:"datasets"`
}

// FileHash is one file of the exported folder.
type FileHash struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Type   string `json:"type,omitempty"`
}

// Card is what a model card says. Empty parts are written as "not
// recorded" rather than left out, so a reader sees what is unknown.
type Card struct {
	Name   string
	Format string // adapter, merged, gguf
	// Arch and Template are the architecture and chat template family.
	Arch, Template string
	// BaseModel is the base model's name (folder name) and
	// BaseModelVersion its content version (store.Lineage), "" when not
	// recorded.
	BaseModel, BaseModelVersion string
	// Chain is where the base model came from, oldest first (store.Lineage's
	// chain): the original base, then each registered model trained from it,
	// the last being BaseModel. Written when it holds a registered model.
	Chain    []Ancestor
	Datasets []Dataset
	Method   string
	// Hyperparameters are the training params (learning_rate, epochs, ...).
	Hyperparameters map[string]any
	// Metrics are the training metrics (final_loss, final_val_loss, ...).
	Metrics    map[string]any
	Comparison *eval.Comparison
	Checks     []verify.Check
	Files      []FileHash
}

// Write writes c as dir/README.md.
func Write(dir string, c *Card) error {
	if err := os.WriteFile(filepath.Join(dir, File), []byte(c.Markdown()), 0o644); err != nil {
		return fmt.Errorf("model card: %w", err)
	}
	return nil
}

// Markdown renders the card.
func (c *Card) Markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# %s\n\n", c.Name)
	p("Exported by Whetstone as `%s`", c.Format)
	if c.Arch != "" {
		p(" (architecture `%s`, chat template `%s`)", c.Arch, c.Template)
	}
	p(".\n\n## Lineage\n\n")
	p("- Base model: %s", orUnknown(c.BaseModel))
	if c.BaseModelVersion != "" {
		p(", version `%s`", c.BaseModelVersion)
	}
	p("\n")
	if len(c.Chain) > 1 {
		p("- Chain, oldest first:\n")
		for i, a := range c.Chain {
			p("  %d. %s", i+1, orUnknown(cmp.Or(a.BaseModel, a.Name, a.ModelID)))
			if a.ModelID != "" && a.Name != "" {
				p(" (`%s`", a.ModelID)
				if a.JobID != "" {
					p(", job `%s`", a.JobID)
				}
				p(")")
			}
			if a.Version != "" {
				p(", version `%s`", a.Version)
			}
			if len(a.Datasets) > 0 {
				names := make([]string, len(a.Datasets))
				for j, d := range a.Datasets {
					names[j] = cmp.Or(d.Name, d.Source, d.ID)
				}
				p(", trained on %s", strings.Join(names, ", "))
			}
			p("\n")
		}
	}
	if len(c.Datasets) == 0 {
		p("- Datasets: not recorded\n")
	} else {
		p("- Datasets:\n")
		for _, d := range c.Datasets {
			name := cmp.Or(d.Name, d.Source, d.ID)
			id := ""
			if d.ID != "" && d.ID != name {
				id = " (`" + d.ID + "`)"
			}
			p("  - %s%s, version `%s`\n", name, id, d.Version)
		}
	}
	p("\n## Training\n\n- Method: %s\n", orUnknown(c.Method))
	if len(c.Hyperparameters) > 0 {
		p("\n| hyperparameter | value |\n| --- | --- |\n")
		for _, k := range sortedKeys(c.Hyperparameters) {
			p("| %s | %s |\n", k, value(c.Hyperparameters[k]))
		}
	}
	p("\n## Metrics\n\n")
	if len(c.Metrics) == 0 {
		p("Not recorded.\n")
	} else {
		p("| metric | value |\n| --- | --- |\n")
		for _, k := range sortedKeys(c.Metrics) {
			p("| %s | %s |\n", k, value(c.Metrics[k]))
		}
	}
	if cmp := c.Comparison; cmp != nil {
		p("\n## Comparison with the base model\n\n")
		p("Primary metric `%s`; %.0f%% bootstrap intervals (%d resamples).\n\n", cmp.Primary, 100*cmp.Confidence, cmp.Bootstrap)
		p("| metric | base | fine-tuned | delta [interval] | wins / ties / losses |\n| --- | --- | --- | --- | --- |\n")
		for _, m := range cmp.Metrics {
			mark := ""
			if m.Significant {
				mark = " (significant)"
			}
			p("| %s | %s | %s | %s [%s, %s]%s | %d / %d / %d |\n", m.Name, num(m.Base.Estimate), num(m.Tuned.Estimate),
				num(m.Delta.Estimate), num(m.Delta.Lo), num(m.Delta.Hi), mark, m.Wins, m.Ties, m.Losses)
		}
	}
	if len(c.Checks) > 0 {
		p("\n## Export checks\n\nEach GGUF loaded back and replayed against the model it came from (see Whetstone's docs/export.md).\n\n")
		p("| file | type | greedy agreement | max log-prob gap | template | passed |\n| --- | --- | --- | --- | --- | --- |\n")
		for _, k := range c.Checks {
			tmpl := "not checked"
			if k.Template != nil {
				tmpl = fmt.Sprint(k.Template.Passed)
			}
			p("| %s | %s | %.4f | %.3g | %s | %v |\n", k.File, k.Type, k.GreedyAgreement, k.MaxLogprobGap, tmpl, k.Passed)
		}
	}
	p("\n## Files\n\n| file | size | sha256 |\n| --- | --- | --- |\n")
	for _, f := range c.Files {
		p("| %s | %d | `%s` |\n", f.Path, f.Size, f.SHA256)
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "not recorded"
	}
	return s
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.4g", v)
}

// value renders a metric or hyperparameter: numbers compactly, nested
// objects as key=value lists.
func value(v any) string {
	switch x := v.(type) {
	case float64:
		return num(x)
	case float32:
		return num(float64(x))
	case map[string]any:
		var parts []string
		for _, k := range sortedKeys(x) {
			parts = append(parts, k+"="+value(x[k]))
		}
		return strings.Join(parts, ", ")
	case []any:
		var parts []string
		for _, e := range x {
			parts = append(parts, value(e))
		}
		return strings.Join(parts, ", ")
	case []string:
		return strings.Join(slices.Clone(x), ", ")
	}
	return strings.ReplaceAll(fmt.Sprint(v), "|", `\|`)
}
