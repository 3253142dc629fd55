package export

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/eval"
)

func repoRoot(t *testing.T) string { return assets.RepoRoot(t) }

// trainArtifact builds what the train agent outputs for a LoRA run: the PEFT
// folder, with Meta base_model absolute.
func trainArtifact(t *testing.T) agent.Artifact {
	root := repoRoot(t)
	dir := t.TempDir()
	src := filepath.Join(root, "internal", "export", "peft", "testdata", "stories260K-lora")
	for _, f := range []string{"adapter_model.safetensors", "adapter_config.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	base := filepath.Join(root, "..", "shared", "assets", "models", "stories260K")
	return agent.Artifact{Type: agent.Model, Name: "model", Path: dir, Meta: map[string]any{
		"base_model": base, "method": "lora", "format": "peft-lora", "final_loss": 1.25, "final_val_loss": 1.5, "steps": 10}}
}

// defaults applies the Spec's defaults as the orchestrator does.
func defaults(p agent.Params) agent.Params {
	for _, s := range New().Spec().Params {
		if _, ok := p[s.Name]; !ok && s.Default != nil {
			p[s.Name] = s.Default
		}
	}
	return p
}

func TestAgentLoRA(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	env := &agent.Env{Params: defaults(agent.Params{"formats": []any{"adapter", "merged", "gguf"}, "gguf_types": []any{"f16", "q8_0"}}),
		Inputs: []agent.Artifact{trainArtifact(t)}, OutDir: out}
	arts, err := New().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 4 {
		t.Fatalf("%d artifacts, want 3 models and the checks report", len(arts))
	}
	checks, ok := arts[3].Meta["checks"].([]any)
	if arts[3].Type != agent.Report || !ok || len(checks) != 2 {
		t.Fatalf("checks report %+v", arts[3])
	}
	for _, c := range checks {
		c := c.(map[string]any)
		if c["passed"] != true || c["greedy_agreement"].(float64) < 0.9 || c["template"].(map[string]any)["passed"] != true {
			t.Errorf("check %v", c)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "checks.json")); err != nil {
		t.Error(err)
	}
	for _, a := range arts[:3] {
		if a.Type != agent.Model || a.Path != a.Name || a.Meta["method"] != "lora" || a.Meta["base_model"] == "" {
			t.Errorf("artifact %+v", a)
		}
		m := a.Meta["metrics"].(map[string]any)
		if m["final_val_loss"] != 1.5 {
			t.Errorf("%s metrics %v", a.Name, m)
		}
		files := a.Meta["files"].([]map[string]any)
		if len(files) == 0 {
			t.Errorf("%s lists no files", a.Name)
		}
		var total int64
		for _, f := range files {
			st, err := os.Stat(filepath.Join(out, a.Path, f["path"].(string)))
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != f["size"].(int64) || len(f["sha256"].(string)) != 64 {
				t.Errorf("%s/%s: size %d, listed %v", a.Name, f["path"], st.Size(), f["size"])
			}
			total += st.Size()
		}
		if a.Meta["size"] != total {
			t.Errorf("%s size %v, files sum to %d", a.Name, a.Meta["size"], total)
		}
		if _, err := json.Marshal(a.Meta); err != nil {
			t.Errorf("meta is not JSON-encodable: %v", err)
		}
	}
}

func TestAgentFullModelAndErrors(t *testing.T) {
	t.Parallel()
	base := filepath.Join(repoRoot(t), "..", "shared", "assets", "models", "stories260K")
	// a full model (or base model): format adapter is skipped
	env := &agent.Env{Params: defaults(agent.Params{"gguf_types": []any{"q4_k_m"}}), OutDir: t.TempDir(),
		Inputs: []agent.Artifact{{Type: agent.Model, Path: base, Meta: map[string]any{"method": "full"}}}}
	arts, err := New().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 3 || arts[0].Name != "merged" || arts[1].Name != "gguf" || arts[2].Name != "checks" {
		t.Errorf("artifacts %v", arts)
	}
	for _, tt := range []struct {
		name string
		env  *agent.Env
	}{
		{"no input", &agent.Env{Params: defaults(agent.Params{}), OutDir: t.TempDir()}},
		{"bad type", &agent.Env{Params: defaults(agent.Params{"gguf_types": []any{"q2_k"}, "model": base}), OutDir: t.TempDir()}},
		{"adapter only, full model", &agent.Env{Params: defaults(agent.Params{"formats": []any{"adapter"}, "model": base}), OutDir: t.TempDir()}},
		{"missing base", &agent.Env{Params: defaults(agent.Params{}), OutDir: t.TempDir(), Inputs: []agent.Artifact{func() agent.Artifact {
			a := trainArtifact(t)
			a.Meta["base_model"] = "/nonexistent/model"
			return a
		}()}}},
	} {
		if _, err := New().Run(context.Background(), tt.env); !agent.IsPermanent(err) {
			t.Errorf("%s: error %v, want a permanent error", tt.name, err)
		}
	}
}

// TestModelCard: every exported folder gets a README.md naming the base
// model (a registered one with its chain back to the original base), the
// datasets with their versions, method and hyperparameters, metrics, the
// comparison and the sha256 of each file.
func TestModelCard(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	in := trainArtifact(t)
	in.Meta["hyperparameters"] = map[string]any{"learning_rate": 0.003, "epochs": 1.0, "lora": map[string]any{"rank": 8.0, "alpha": 16.0}}
	baseVersion := "sha256:" + strings.Repeat("cd", 32)
	rootVersion := "sha256:" + strings.Repeat("ef", 32)
	in.Meta["lineage"] = map[string]any{"base_model": "mdl_first", "base_model_version": baseVersion, "datasets": []any{
		map[string]any{"dataset_id": "ds_abc", "name": "alpaca_en_demo.json", "version": "sha256:" + strings.Repeat("ab", 32)}},
		"chain": []any{map[string]any{"base_model": "stories260K", "version": rootVersion},
			map[string]any{"model_id": "mdl_first", "name": "first/ship/merged", "job_id": "job_first", "version": baseVersion,
				"datasets": []any{map[string]any{"source": "data/first.jsonl", "name": "first.jsonl", "version": "sha256:01"}}}}}
	cmpPath := filepath.Join(t.TempDir(), "comparison.json")
	c := eval.Comparison{Kind: eval.KindComparison, Primary: "rouge_l", Bootstrap: 1000, Confidence: 0.95, Metrics: []eval.MetricComparison{{
		Name: "rouge_l", Base: eval.CI{Estimate: 0.1}, Tuned: eval.CI{Estimate: 0.25}, Delta: eval.CI{Estimate: 0.15, Lo: 0.05, Hi: 0.2},
		Significant: true, Improved: true, Wins: 30, Ties: 5, Losses: 15}}}
	b, _ := json.Marshal(c)
	if err := os.WriteFile(cmpPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	env := &agent.Env{Params: defaults(agent.Params{"formats": []any{"adapter", "merged", "gguf"}, "gguf_types": []any{"f16"}}),
		Inputs: []agent.Artifact{in, {Type: agent.Report, Name: "comparison", Path: cmpPath, Meta: map[string]any{"kind": "comparison"}}}, OutDir: out}
	arts, err := New().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range arts[:3] {
		readme, err := os.ReadFile(filepath.Join(out, a.Path, "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		s := string(readme)
		if strings.Contains(s, in.Meta["base_model"].(string)) {
			t.Errorf("%s card names the server path %s", a.Name, in.Meta["base_model"])
		}
		want := []string{"Base model: mdl_first, version `" + baseVersion + "`",
			"- Chain, oldest first:\n  1. stories260K, version `" + rootVersion + "`\n" +
				"  2. first/ship/merged (`mdl_first`, job `job_first`), version `" + baseVersion + "`, trained on first.jsonl\n",
			"alpaca_en_demo.json (`ds_abc`), version `sha256:abab",
			"Method: lora", "| learning_rate | 0.003 |", "| lora | alpha=16, rank=8 |", "| final_val_loss | 1.5 |",
			"| rouge_l | 0.1 | 0.25 | 0.15 [0.05, 0.2] (significant) | 30 / 5 / 15 |"}
		for _, f := range a.Meta["files"].([]map[string]any) {
			if f["path"] != "README.md" {
				want = append(want, fmt.Sprintf("| %s | %d | `%s` |", f["path"], f["size"], f["sha256"]))
			}
		}
		if a.Name == "gguf" {
			want = append(want, "| gguf/stories260K-f16.gguf | f16 | 1.0000 |")
		}
		for _, w := range want {
			if !strings.Contains(s, w) {
				t.Errorf("%s/README.md lacks %q:\n%s", a.Name, w, s)
			}
		}
	}
}
