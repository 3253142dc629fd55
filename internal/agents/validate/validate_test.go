package validate

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/ingest"
	"github.com/whetstone/whetstone/internal/data/check"
	"github.com/whetstone/whetstone/internal/data/datatest"
)

// ingestFile runs the dataset agent on source and returns its dataset
// artifact with an absolute path, as the orchestrator hands it on.
func ingestFile(t *testing.T, source string, params agent.Params) agent.Artifact {
	t.Helper()
	if params == nil {
		params = agent.Params{}
	}
	params["source"] = source
	env := &agent.Env{Params: params, OutDir: t.TempDir(), WorkDir: datatest.Root(t), Emit: agent.Discard}
	arts, err := ingest.New().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	a := arts[0]
	a.Path = filepath.Join(env.OutDir, a.Path)
	// Meta travels as JSON between nodes.
	b, _ := json.Marshal(a.Meta)
	a.Meta = nil
	json.Unmarshal(b, &a.Meta)
	return a
}

func validate(t *testing.T, in agent.Artifact, params agent.Params) ([]agent.Artifact, check.Report, error) {
	t.Helper()
	env := &agent.Env{Params: params, Inputs: []agent.Artifact{in}, OutDir: t.TempDir(), WorkDir: datatest.Root(t), Emit: agent.Discard}
	arts, err := New().Run(context.Background(), env)
	var rep check.Report
	b, rerr := os.ReadFile(filepath.Join(env.OutDir, "validation.json"))
	if rerr == nil {
		json.Unmarshal(b, &rep)
	}
	for i := range arts {
		arts[i].Path = filepath.Join(env.OutDir, arts[i].Path)
	}
	return arts, rep, err
}

func TestRealDatasets(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"../shared/assets/datasets/llama-factory/alpaca_en_demo.json",
		"../shared/assets/datasets/llama-factory/v1_sft_demo.jsonl",
		"../shared/assets/datasets/llama-factory/glaive_toolcall_en_demo.json",
		"../shared/assets/datasets/llama-factory/dpo_en_demo.json",
		"../shared/assets/datasets/llama-factory/kto_en_demo.json",
		"../shared/assets/datasets/llama-factory/c4_demo.jsonl",
	} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			t.Parallel()
			in := ingestFile(t, src, nil)
			arts, rep, err := validate(t, in, agent.Params{"near_duplicate_threshold": 0.9, "fail_on": []any{"unreadable"}})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Passed || rep.Rows != int(in.Meta["rows"].(float64)) {
				t.Errorf("passed %v rows %d", rep.Passed, rep.Rows)
			}
			if len(arts) != 2 || arts[0].Type != agent.Dataset || arts[1].Name != "validation" {
				t.Fatalf("artifacts %+v", arts)
			}
			a, _ := os.ReadFile(in.Path)
			b, _ := os.ReadFile(arts[0].Path)
			if string(a) != string(b) {
				t.Error("dataset not passed through unchanged")
			}
			if arts[0].Meta["format"] != in.Meta["format"] {
				t.Errorf("meta %v", arts[0].Meta)
			}
			for _, f := range rep.Findings {
				t.Logf("%s: %d rows, e.g. %+v", f.Kind, f.Rows, f.Examples[:min(1, len(f.Examples))])
				// These curated datasets are well formed: no structure,
				// field or encoding findings (false positives would show
				// here).
				switch f.Category {
				case "structure", "fields", "encoding":
					t.Errorf("unexpected %s in %d rows: %+v", f.Kind, f.Rows, f.Examples)
				}
			}
		})
	}
}

func TestIdentityDuplicates(t *testing.T) {
	t.Parallel()
	// identity.json repeats the same answer template for many greetings:
	// near duplicates at a low threshold, none exact.
	in := ingestFile(t, "../shared/assets/datasets/llama-factory/identity.json", nil)
	_, rep, err := validate(t, in, agent.Params{"near_duplicate_threshold": 0.5})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, f := range rep.Findings {
		kinds[f.Kind] = f.Rows
	}
	if kinds[check.Duplicate] != 0 || kinds[check.NearDuplicate] == 0 {
		t.Errorf("findings %v", kinds)
	}
}

func TestUnreadableFails(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "broken.jsonl")
	os.WriteFile(p, []byte("{\"text\": \"a fine first row of text\"}\n{\"text\": \"broken\"\n{\"text\": \"another fine row of text\"}\n{\"text\": \"caf\xe9\"}\n"), 0o644)
	in := ingestFile(t, p, nil)
	_, rep, err := validate(t, in, agent.Params{})
	if err == nil || !agent.IsPermanent(err) || !strings.Contains(err.Error(), "unreadable in 2 rows (source lines 2, 4)") {
		t.Fatalf("err = %v", err)
	}
	if rep.Passed || rep.Findings[0].Kind != check.Unreadable || rep.Findings[0].Examples[1].Column != 14 {
		t.Errorf("report %+v", rep.Findings[0])
	}
	// With fail_on emptied, it warns.
	if _, _, err := validate(t, in, agent.Params{"fail_on": []any{}}); err != nil {
		t.Errorf("fail_on []: %v", err)
	}
	// Failing on PII.
	q := filepath.Join(t.TempDir(), "pii.jsonl")
	os.WriteFile(q, []byte("{\"text\": \"mail me at bob@example.com any day\"}\n"), 0o644)
	if _, _, err := validate(t, ingestFile(t, q, nil), agent.Params{"fail_on": []any{"pii"}}); err == nil || !strings.Contains(err.Error(), "pii.email in 1 rows") {
		t.Errorf("fail_on pii: %v", err)
	}
}
