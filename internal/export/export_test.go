package export

import (
	gotemplate "text/template"

	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	datatemplate "github.com/whetstone/whetstone/internal/data/template"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/export/convert"
	"github.com/whetstone/whetstone/internal/export/gguf"
	"github.com/whetstone/whetstone/internal/export/ollama"
	"github.com/whetstone/whetstone/internal/export/peft"
)

func stories(t *testing.T) string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "assets", "models", "stories260K")
		}
		dir = filepath.Dir(dir)
	}
}

func TestRunAllFormats(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	var fractions []float64
	res, err := Run(context.Background(), &Options{
		Model: stories(t), Adapter: "peft/testdata/stories260K-lora", Out: out,
		Formats: AllFormats, GGUFTypes: []convert.FileType{convert.F16, convert.Q8_0}, DType: "bf16",
		Progress: func(f float64, _ string) { fractions = append(fractions, f) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Template != string(ollama.Alpaca) || res.Arch != "llama" {
		t.Errorf("template %q arch %q", res.Template, res.Arch)
	}
	want := map[string]bool{
		"adapter/adapter_model.safetensors": true, "adapter/adapter_config.json": true,
		"merged/model.safetensors": true, "merged/config.json": true, "merged/tokenizer.model": true,
		"gguf/stories260K-f16.gguf": true, "gguf/stories260K-q8_0.gguf": true, "gguf/Modelfile": true,
		"gguf/Modelfile.q8_0": true, "gguf/stories260K-lora-f16.gguf": true,
	}
	for _, f := range res.Files {
		b, err := os.ReadFile(filepath.Join(out, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(b)) != f.Size {
			t.Errorf("%s: recorded sha256/size do not match the file", f.Path)
		}
		delete(want, f.Path)
	}
	for f := range want {
		t.Errorf("missing %s", f)
	}
	if fractions[len(fractions)-1] != 1 {
		t.Errorf("progress ends at %v", fractions[len(fractions)-1])
	}
	// The GGUF LoRA adapter was read back and matched the adapter.
	if ac := res.AdapterCheck; ac == nil || !ac.Passed || ac.File != "gguf/stories260K-lora-f16.gguf" || ac.Type != "f16" ||
		ac.Tensors == 0 || ac.Values == 0 || ac.MaxAbsError > 1e-3 {
		t.Errorf("adapter check = %+v; want the lora GGUF read back within f16 rounding", ac)
	}

	mf, _ := os.ReadFile(filepath.Join(out, "gguf", "Modelfile"))
	if !strings.HasPrefix(string(mf), "FROM ./stories260K-f16.gguf\n") || !strings.Contains(string(mf), `PARAMETER stop "</s>"`) ||
		!strings.Contains(string(mf), "### Instruction:") {
		t.Errorf("Modelfile:\n%s", mf)
	}
	// Served by Ollama, the model sees the prompt preprocess trained it on:
	// SYSTEM is the Alpaca preamble and TEMPLATE renders it before the turn.
	if !strings.Contains(string(mf), "SYSTEM \"\"\""+datatemplate.AlpacaPreamble+"\"\"\"\n") {
		t.Errorf("Modelfile has no Alpaca SYSTEM preamble:\n%s", mf)
	}
	tm := gotemplate.Must(gotemplate.New("m").Parse(ollama.Alpaca.Template()))
	type msg struct{ Role, Content string }
	var rendered strings.Builder
	if err := tm.Execute(&rendered, map[string]any{"Messages": []msg{{"system", datatemplate.AlpacaPreamble}, {"user", "Tell a story."}}}); err != nil {
		t.Fatal(err)
	}
	if want := datatemplate.AlpacaPrompt("", "Tell a story.", ""); rendered.String() != want {
		t.Errorf("Ollama prompt %q, trained on %q", rendered.String(), want)
	}
	g, err := gguf.Open(filepath.Join(out, "gguf", "stories260K-q8_0.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if tmpl, _ := g.String("tokenizer.chat_template"); tmpl != ollama.Alpaca.Jinja("</s>") {
		t.Errorf("GGUF chat template %q", tmpl)
	}
	if ft, _ := g.Uint("general.file_type"); ft != 7 {
		t.Errorf("file_type %d, want 7 (Q8_0)", ft)
	}
	lora, err := gguf.Open(filepath.Join(out, "gguf", "stories260K-lora-f16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer lora.Close()
	if typ, _ := lora.String("adapter.type"); typ != "lora" || len(lora.Tensors) != 2*35 {
		t.Errorf("adapter GGUF type %q with %d tensors", typ, len(lora.Tensors))
	}
	a, err := peft.Read(filepath.Join(out, "adapter"))
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(a.Config.BaseModelNameOrPath) {
		t.Errorf("base_model_name_or_path %q is not absolute", a.Config.BaseModelNameOrPath)
	}
	cfg, _ := os.ReadFile(filepath.Join(out, "merged", "config.json"))
	if !strings.Contains(string(cfg), `"torch_dtype": "bfloat16"`) {
		t.Errorf("merged config.json: %s", cfg)
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    Options
	}{
		{"adapter without lora", Options{Model: stories(t), Formats: []string{FormatAdapter}}},
		{"unknown format", Options{Model: stories(t), Formats: []string{"onnx"}}},
		{"not a model", Options{Model: t.TempDir()}},
		{"bad template", Options{Model: stories(t), Template: "vicuna"}},
		{"bad dtype", Options{Model: stories(t), Formats: []string{FormatMerged}, DType: "int8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.o.Out = t.TempDir()
			if _, err := Run(context.Background(), &tt.o); !errors.Is(err, ErrBadInput) {
				t.Errorf("error %v, want ErrBadInput", err)
			}
		})
	}
}

// TestRunConfigBounds exports stories260K with issue 10's vocab_size of 2^40
// in config.json (and one in bounds that the weights contradict): bad input
// naming the field, before a vocabulary of that size is allocated.
func TestRunConfigBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vocab int64
		want  string
	}{
		{1 << 40, "field vocab_size: 1099511627776 is out of range"},
		{1 << 20, "field vocab_size: tensor model.embed_tokens.weight has shape"},
	} {
		t.Run(fmt.Sprint(tc.vocab), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			src := stories(t)
			ents, _ := os.ReadDir(src)
			for _, e := range ents {
				if e.IsDir() {
					continue
				}
				b, err := os.ReadFile(filepath.Join(src, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				if e.Name() == "config.json" {
					var cfg map[string]any
					json.Unmarshal(b, &cfg)
					cfg["vocab_size"] = tc.vocab
					b, _ = json.Marshal(cfg)
				}
				os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
			}
			var a, z runtime.MemStats
			runtime.ReadMemStats(&a)
			_, err := Run(context.Background(), &Options{Model: dir, Out: t.TempDir(), Formats: []string{FormatGGUF}})
			runtime.ReadMemStats(&z)
			if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrBadInput with %q", err, tc.want)
			}
			if n := z.TotalAlloc - a.TotalAlloc; n > 256<<20 {
				t.Errorf("allocated %d bytes before failing", n)
			}
		})
	}
}

// TestCheckCorrupted exports with the self-check on, then changes the bytes
// of one tensor of the f16 GGUF: the check must fail with its numbers.
func TestCheckCorrupted(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	o := &Options{Model: stories(t), Adapter: "peft/testdata/stories260K-lora", Out: out,
		GGUFTypes: []convert.FileType{convert.F16}, Check: true}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Checks) != 1 || !res.Checks[0].Passed || res.Checks[0].GreedyAgreement != 1 {
		t.Fatalf("checks %+v", res.Checks)
	}
	path := filepath.Join(out, "gguf", "stories260K-f16.gguf")
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ti, _ := f.Tensor("blk.3.attn_output.weight")
	off := f.DataOffset + int64(ti.Offset)
	f.Close()
	w, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// one changed value in the high byte of every 16th weight
	b := make([]byte, ti.Size())
	if _, err := w.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(b); i += 32 {
		b[i] ^= 0x40
	}
	if _, err := w.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	w.Close()
	family, _ := ollama.ParseFamily(res.Template)
	_, err = checkGGUFs(context.Background(), o, family, ollama.Alpaca.Jinja("</s>"), "</s>",
		[]ggufCheck{{path: path, file: "gguf/stories260K-f16.gguf", typ: "f16", modelfile: filepath.Join(out, "gguf", "Modelfile")}})
	if !errors.Is(err, ErrCheckFailed) || !strings.Contains(err.Error(), "greedy agreement") || !strings.Contains(err.Error(), "max log-prob gap") {
		t.Fatalf("error %v, want a failed check with its numbers", err)
	}
	t.Log(err)
}
