package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/data/template"
	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/export/convert"
	"github.com/whetstone/whetstone/internal/export/exporttest"
	"github.com/whetstone/whetstone/internal/export/gguf"
	"github.com/whetstone/whetstone/internal/export/ollama"
	"github.com/whetstone/whetstone/internal/export/peft"
	"github.com/whetstone/whetstone/internal/safetensors"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

type fixture struct {
	base, adapter string
	ref           *Reference
}

// stories is stories260K with the PEFT test adapter, replaying the
// HeldOut instructions plus extra ones in the Alpaca prompt.
func stories(t testing.TB, extra ...string) *fixture {
	root := assets.RepoRoot(t)
	fx := &fixture{
		base:    filepath.Join(root, "..", "shared", "assets", "models", "stories260K"),
		adapter: filepath.Join(root, "internal", "export", "peft", "testdata", "stories260K-lora"),
	}
	tok, err := tokenizer.Load(fx.base)
	if err != nil {
		t.Fatal(err)
	}
	texts, err := Prompts(template.Alpaca, nil, append(slices.Clone(HeldOut), extra...))
	if err != nil {
		t.Fatal(err)
	}
	var prompts [][]int32
	for _, s := range texts {
		var ids []int32
		for _, id := range tok.Encode(s, true) {
			ids = append(ids, int32(id))
		}
		prompts = append(prompts, ids)
	}
	fx.reference(t, prompts)
	return fx
}

// random is an exporttest model with token-id prompts.
func random(t testing.TB, s exporttest.Shape, nPrompts int) *fixture {
	fx := &fixture{base: t.TempDir()}
	exporttest.Model(t, fx.base, s, safetensors.F32)
	var prompts [][]int32
	for i := range nPrompts {
		var p []int32
		for j := range 12 {
			p = append(p, int32((i*7919+j*104729+1)%s.Vocab))
		}
		prompts = append(prompts, p)
	}
	fx.reference(t, prompts)
	return fx
}

func (fx *fixture) reference(t testing.TB, prompts [][]int32) {
	m, err := model.Load(fx.base)
	if err != nil {
		t.Fatal(err)
	}
	if fx.adapter != "" {
		if _, err := m.LoadAdapter(fx.adapter); err != nil {
			t.Fatal(err)
		}
	}
	if fx.ref, err = NewReference(context.Background(), m, prompts, 24); err != nil {
		t.Fatal(err)
	}
}

// writeGGUF converts the model (with its adapter merged) to a GGUF of type ft.
func (fx *fixture) writeGGUF(t testing.TB, ft convert.FileType) string {
	return fx.writeGGUFTemplate(t, ft, "")
}

func (fx *fixture) writeGGUFTemplate(t testing.TB, ft convert.FileType, chatTemplate string) string {
	st, err := safetensors.OpenDir(fx.base)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := convert.Safetensors(st)
	if fx.adapter != "" {
		ad, err := peft.Read(fx.adapter)
		if err != nil {
			t.Fatal(err)
		}
		if w, err = peft.Merged(w, ad); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "m-"+string(ft)+".gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := convert.Model(context.Background(), f, &convert.Params{Dir: fx.base, Weights: w, Type: ft, ChatTemplate: chatTemplate}); err != nil {
		t.Fatal(err)
	}
	return path
}

type tableModel struct {
	name string
	fx   func(t testing.TB) *fixture
}

// slowModels join TestGGUFTypes with -tags integration (their tokenizers
// take most of a minute to convert here).
var slowModels []tableModel

// TestGGUFTypes checks every GGUF type of two models (four with -tags
// integration) against the engine
// running the source model and prints the docs/export.md table
// (go test ./internal/export/verify/ -run TestGGUFTypes -v).
func TestGGUFTypes(t *testing.T) {
	t.Parallel()
	var extra []string
	b, err := os.ReadFile(assets.Path(t, "datasets", "llama-factory", "alpaca_en_demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct{ Instruction string }
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows[:28] {
		extra = append(extra, r.Instruction)
	}
	models := []tableModel{
		{"stories260K+LoRA", func(t testing.TB) *fixture { return stories(t, extra...) }},
		{"llama-k256", func(t testing.TB) *fixture { return random(t, exporttest.LlamaK256, 16) }},
	}
	models = append(models, slowModels...)
	for _, mt := range models {
		t.Run(mt.name, func(t *testing.T) {
			fx := mt.fx(t)
			line := "| " + mt.name
			for _, ft := range convert.FileTypes {
				path := fx.writeGGUF(t, ft)
				c, err := GGUF(context.Background(), fx.ref, path, filepath.Base(path), string(ft))
				if err != nil {
					t.Fatal(err)
				}
				line += fmt.Sprintf(" | %.3f (%d) / %.2g", c.GreedyAgreement, c.NearTieFlips, c.MaxLogprobGap)
				if !c.Passed {
					t.Errorf("check failed: %s", c.Error())
				}
			}
			t.Logf("%s | (%d positions)", line, fx.ref.positions())
		})
	}
}

// corrupt overwrites the data of one tensor with a byte pattern.
func corrupt(t testing.TB, path, tensor string) {
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ti, ok := f.Tensor(tensor)
	off := f.DataOffset + int64(ti.Offset)
	f.Close()
	if !ok {
		t.Fatalf("no tensor %s", tensor)
	}
	w, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	b := make([]byte, ti.Size())
	if _, err := w.ReadAt(b, off); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	for i := range b {
		b[i] ^= 0x55 // flips mantissa and exponent bits of every value
	}
	if _, err := w.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptedGGUFFails(t *testing.T) {
	t.Parallel()
	fx := stories(t)
	for _, tc := range []struct {
		ft     convert.FileType
		tensor string
	}{
		{convert.F16, "blk.2.ffn_down.weight"},
		{convert.Q8_0, "blk.0.attn_k.weight"},
		{convert.Q4_0, "blk.4.ffn_up.weight"},
	} {
		t.Run(string(tc.ft), func(t *testing.T) {
			path := fx.writeGGUF(t, tc.ft)
			corrupt(t, path, tc.tensor)
			c, err := GGUF(context.Background(), fx.ref, path, filepath.Base(path), string(tc.ft))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("corrupted %s: %s", tc.tensor, c.Error())
			if c.Passed {
				t.Fatalf("a GGUF with %s corrupted passed: %s", tc.tensor, c.Error())
			}
			if !strings.Contains(c.Error(), "greedy agreement") {
				t.Errorf("message lacks the numbers: %s", c.Error())
			}
		})
	}
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	fx := &fixture{base: assets.Path(t, "models", "stories260K")}
	good := fx.writeGGUFTemplate(t, convert.F32, ollama.Alpaca.Jinja("</s>"))
	noPreamble := fx.writeGGUFTemplate(t, convert.F32, strings.Replace(ollama.Alpaca.Jinja("</s>"), template.AlpacaPreamble, "", 1))
	mf := func(edit func(m *ollama.Modelfile)) *ollama.Modelfile {
		m := ollama.New("./x.gguf", ollama.Alpaca, "</s>")
		m.System = template.AlpacaPreamble
		if edit != nil {
			edit(m)
		}
		return m
	}
	tests := []struct {
		name    string
		gguf    string
		mf      *ollama.Modelfile
		problem string // "" when it passes
	}{
		{"as exported", good, mf(nil), ""},
		{"modelfile without the preamble", good, mf(func(m *ollama.Modelfile) { m.System = "" }), "modelfile TEMPLATE renders"},
		{"gguf template without the preamble", noPreamble, mf(nil), "gguf chat template renders"},
		{"no eos stop", good, mf(func(m *ollama.Modelfile) { m.Stops = m.Stops[:2] }), "lack the EOS token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := gguf.Open(tt.gguf)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			back, err := ollama.Parse(tt.mf.String())
			if err != nil {
				t.Fatal(err)
			}
			tc := Templates(&TemplateParams{Kind: template.Alpaca, EOS: "</s>", Family: ollama.Alpaca, GGUF: f, Modelfile: back})
			if tt.problem == "" {
				if !tc.Passed || tc.EndOfTurn != "</s>" || tc.Conversations != 2 {
					t.Errorf("%+v", tc)
				}
				return
			}
			if tc.Passed || !strings.Contains(fmt.Sprint(tc.Problems), tt.problem) {
				t.Errorf("problems %q, want one with %q", tc.Problems, tt.problem)
			}
		})
	}
}
