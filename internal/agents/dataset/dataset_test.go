package dataset

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	d, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		p := filepath.Dir(d)
		if p == d {
			t.Fatal("go.mod not found")
		}
		d = p
	}
}

func run(t *testing.T, source string, params agent.Params) ([]agent.Artifact, *Profile, string, error) {
	t.Helper()
	out := t.TempDir()
	p := agent.Params{"source": source, "format": "auto", "max_rows": int64(0)}
	for k, v := range params {
		p[k] = v
	}
	env := &agent.Env{Params: p, OutDir: out, WorkDir: repoRoot(t), Emit: agent.Discard}
	arts, err := New().Run(context.Background(), env)
	if err != nil {
		return nil, nil, out, err
	}
	var prof Profile
	b, err := os.ReadFile(filepath.Join(out, "profile.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &prof)
	return arts, &prof, out, nil
}

// Reference figures computed with Python's json module (len of str values,
// empty strings excluded) over the same files.
func TestProfileAlpaca(t *testing.T) {
	t.Parallel()
	arts, p, out, err := run(t, "../shared/assets/datasets/llama-factory/alpaca_en_demo.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rows != 999 || p.FileFormat != "json" || p.Schema != "alpaca" || len(p.Columns) != 3 {
		t.Fatalf("profile = %+v", p)
	}
	want := map[string][4]float64{ // nulls, min, max, mean
		"instruction": {0, 16, 459, 60.17},
		"input":       {587, 3, 747, 61.12},
		"output":      {0, 1, 2837, 702.04},
	}
	for _, c := range p.Columns {
		w := want[c.Name]
		if float64(c.Nulls) != w[0] || float64(c.MinLen) != w[1] || float64(c.MaxLen) != w[2] || c.MeanLen != w[3] {
			t.Errorf("column %s = nulls %d len %d..%d mean %v, want %v", c.Name, c.Nulls, c.MinLen, c.MaxLen, c.MeanLen, w)
		}
	}
	if len(arts) != 2 || arts[0].Type != agent.Dataset || arts[0].Meta["rows"] != 999 {
		t.Errorf("artifacts = %+v", arts)
	}
	b, _ := os.ReadFile(filepath.Join(out, "data.jsonl"))
	if n := strings.Count(string(b), "\n"); n != 999 {
		t.Errorf("data.jsonl has %d lines", n)
	}
}

func TestProfileJSONLAndCSV(t *testing.T) {
	t.Parallel()
	_, p, _, err := run(t, "../shared/assets/datasets/llama-factory/v1_sft_demo.jsonl", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rows != 500 || p.Schema != "messages" || p.Columns[0].MinLen != 2 || p.Columns[0].MaxLen != 2 {
		t.Errorf("jsonl profile = %+v %+v", p, p.Columns[0])
	}
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "d.csv")
	os.WriteFile(csvPath, []byte("prompt,completion\nhi,there\n,héllo\nabc,\n"), 0o644)
	_, p, _, err = run(t, csvPath, agent.Params{"max_rows": int64(2)})
	if err != nil {
		t.Fatal(err)
	}
	if p.Rows != 2 || !p.Truncated || p.Schema != "completion" || p.Columns[1].Name != "prompt" || p.Columns[1].Nulls != 1 || p.Columns[0].MaxLen != 5 {
		t.Errorf("csv profile = %+v %+v %+v", p, p.Columns[0], p.Columns[1])
	}
}

func TestBadInputIsPermanent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"a\": 1}\n{\"a\": \n"), 0o644)
	for _, tc := range []struct{ src, want string }{
		{bad, "line 2"},
		{filepath.Join(dir, "missing.jsonl"), "no such file"},
		{dir, "is a folder"},
	} {
		_, _, _, err := run(t, tc.src, nil)
		if err == nil || !agent.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("source %s: error %v, want permanent containing %q", tc.src, err, tc.want)
		}
	}
}
