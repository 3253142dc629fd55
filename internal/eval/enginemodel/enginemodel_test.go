package enginemodel

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"

	"github.com/whetstone/whetstone/internal/eval"
)

func repoRoot(t testing.TB) string { return assets.RepoRoot(t) }

// StoriesDir returns the stories260K model folder of the shared assets.
func StoriesDir(t testing.TB) string {
	t.Helper()
	d := filepath.Join(repoRoot(t), "..", "shared", "assets", "models", "stories260K")
	if _, err := os.Stat(filepath.Join(d, "model.safetensors")); err != nil {
		t.Fatalf("stories260K model: %v", err)
	}
	return d
}

type golden struct {
	Text      string
	IDs       []int
	MeanLoss  float64 `json:"mean_loss"`
	Prompt    string
	PromptIDs []int `json:"prompt_ids"`
	Generated []int
}

// TestStoriesAgainstTorch checks loss, tokenization and greedy generation
// on the real stories260K model against testdata/stories260K.golden.json,
// made by the PyTorch reference (gen.sh).
func TestStoriesAgainstTorch(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/stories260K.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	m, tok, err := Load(t.Context(), StoriesDir(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if ids := tok.Encode(g.Text, true); !slices.Equal(ids, g.IDs) {
		t.Fatalf("Encode = %v, sentencepiece %v", ids, g.IDs)
	}
	sum, n, err := m.Loss(t.Context(), g.IDs, g.IDs)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(g.IDs)-1 {
		t.Errorf("loss counted %d positions, want %d", n, len(g.IDs)-1)
	}
	if got := sum / float64(n); math.Abs(got-g.MeanLoss) > 1e-4 {
		t.Errorf("mean loss %.7f, PyTorch float64 %.7f", got, g.MeanLoss)
	}
	// Masking the prompt: only positions after it count.
	labels := slices.Clone(g.IDs)
	for i := range 10 {
		labels[i] = eval.IgnoreIndex
	}
	s2, n2, err := m.Loss(t.Context(), g.IDs, labels)
	if err != nil {
		t.Fatal(err)
	}
	if n2 != len(g.IDs)-10 || s2 >= sum {
		t.Errorf("masked loss %v over %d, full %v over %d", s2, n2, sum, n)
	}
	// A sequence longer than the context (512) is scored on its first 512 tokens.
	long := slices.Repeat(g.IDs, 20)[:600]
	sl, nl, err := m.Loss(t.Context(), long, long)
	if err != nil || nl != 511 {
		t.Errorf("long sequence: %d positions, %v", nl, err)
	}
	s512, _, _ := m.Loss(t.Context(), long[:512], long[:512])
	if sl != s512 {
		t.Errorf("long sequence loss %v, first 512 tokens %v", sl, s512)
	}
	eos, _ := tok.EOS()
	out, err := m.Generate(t.Context(), tok.Encode(g.Prompt, true), eval.GenerateOptions{MaxNewTokens: len(g.Generated), Stop: []int{eos}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out, g.Generated) {
		t.Errorf("greedy ids %v, PyTorch %v", out, g.Generated)
	}
	// Sampling is seeded: the same seed gives the same text.
	opt := eval.GenerateOptions{MaxNewTokens: 20, Temperature: 1, Seed: 9}
	a, _ := m.Generate(t.Context(), g.PromptIDs, opt)
	c, _ := m.Generate(t.Context(), g.PromptIDs, opt)
	if !slices.Equal(a, c) || len(a) != 20 {
		t.Errorf("seeded sampling gave %v and %v", a, c)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	if _, _, err := Load(t.Context(), t.TempDir(), ""); err == nil {
		t.Error("loading an empty folder succeeded")
	}
	if _, _, err := Load(t.Context(), StoriesDir(t), t.TempDir()); err == nil {
		t.Error("loading an empty adapter folder succeeded")
	}
}
