// Package export turns a base model, or a base model plus a LoRA adapter,
// into the artifacts users ship: a PEFT adapter folder, a merged model in
// Hugging Face layout, and GGUF files (with a GGUF LoRA adapter and an
// Ollama Modelfile) for llama.cpp and Ollama. The export agent and
// `whet export` call Run.
//
// Sub-packages do the work: quant (ggml block codecs), gguf (file format),
// convert (Hugging Face → GGUF), peft (adapters and merging), hfmodel
// (merged folders), ollama (Modelfiles).
package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/whetstone/whetstone/internal/data/template"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/whetstone/whetstone/internal/export/convert"
	"github.com/whetstone/whetstone/internal/export/hfmodel"
	"github.com/whetstone/whetstone/internal/export/ollama"
	"github.com/whetstone/whetstone/internal/export/peft"
	"github.com/whetstone/whetstone/internal/export/verify"
	"github.com/whetstone/whetstone/internal/safetensors"
)

// Formats an export can produce.
const (
	FormatAdapter = "adapter" // PEFT adapter folder
	FormatMerged  = "merged"  // Hugging Face model folder
	FormatGGUF    = "gguf"    // GGUF model files (+ LoRA GGUF, Modelfile)
)

// AllFormats lists the formats.
var AllFormats = []string{FormatAdapter, FormatMerged, FormatGGUF}

// ErrBadInput wraps errors caused by the inputs (unknown format, a model
// that cannot be converted); retrying does not help.
var ErrBadInput = errors.New("bad export input")

func bad(err error) error { return fmt.Errorf("%w: %w", ErrBadInput, err) }

// Options configure Run.
type Options struct {
	// Model is the base model folder (Hugging Face layout), or the fully
	// fine-tuned model.
	Model string
	// Adapter is an optional PEFT LoRA adapter folder trained on Model.
	Adapter string
	// Formats to write: adapter, merged, gguf. Defaults to gguf.
	Formats []string
	// GGUFTypes are the GGUF precisions. Defaults to f16.
	GGUFTypes []convert.FileType
	// DType of the merged model: f32, bf16, f16, or "" / "auto" for the base
	// model's torch_dtype.
	DType string
	// Template is the chat template family for the Modelfile and for models
	// without a chat template: "auto" (or "") detects it from the model's
	// chat template and uses alpaca when there is none.
	Template string
	// Name is general.name of GGUF files. Defaults to the model folder name.
	Name string
	// Out is the output folder; formats go to Out/adapter, Out/merged and
	// Out/gguf.
	Out string
	// Check loads every written GGUF back and replays held-out prompts
	// against the model it came from, and checks its chat template, stop
	// tokens and Modelfile (package verify); a failed check fails Run with
	// ErrCheckFailed. Result.Checks has the numbers either way.
	Check bool
	// CheckPrompts are the prompt texts replayed (already in the training
	// format). Defaults to verify.HeldOut rendered with the training
	// template.
	CheckPrompts []string
	// CheckTokens is the number of greedy tokens per prompt. Defaults to
	// DefaultCheckTokens.
	CheckTokens int
	// Progress, when set, receives the fraction done and a message.
	Progress func(fraction float64, message string)
	Logger   *slog.Logger
}

// File is one written file.
type File struct {
	Path   string `json:"path"` // relative to Options.Out
	Format string `json:"format"`
	Type   string `json:"type,omitempty"` // GGUF type or merged dtype
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Result describes an export.
type Result struct {
	Files    []File `json:"files"`
	Template string `json:"template"` // the chat family used
	Arch     string `json:"arch"`
	// Checks are the GGUF self-checks (Options.Check).
	Checks []verify.Check `json:"checks,omitempty"`
	// AdapterCheck is the read-back check of the GGUF LoRA adapter, run
	// whenever one is written (formats adapter and gguf); a failed one
	// fails Run with ErrCheckFailed.
	AdapterCheck *verify.AdapterCheck `json:"adapter_check,omitempty"`
}

// Run performs the export.
func Run(ctx context.Context, o *Options) (*Result, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	progress := o.Progress
	if progress == nil {
		progress = func(float64, string) {}
	}
	formats := o.Formats
	if len(formats) == 0 {
		formats = []string{FormatGGUF}
	}
	for _, f := range formats {
		if !slices.Contains(AllFormats, f) {
			return nil, bad(fmt.Errorf("format %q: want one of %v", f, AllFormats))
		}
	}
	types := o.GGUFTypes
	if len(types) == 0 {
		types = []convert.FileType{convert.F16}
	}
	cfg, err := convert.LoadConfig(o.Model)
	if err != nil {
		return nil, bad(err)
	}
	arch, _ := cfg.Arch()
	var ad *peft.Adapter
	if o.Adapter != "" {
		if ad, err = peft.Read(o.Adapter); err != nil {
			return nil, bad(err)
		}
	} else if slices.Contains(formats, FormatAdapter) {
		return nil, bad(errors.New("format adapter needs a LoRA adapter (the model was not trained with LoRA)"))
	}
	st, err := safetensors.OpenDir(o.Model)
	if err != nil {
		return nil, bad(err)
	}
	defer st.Close()
	weights := convert.Safetensors(st)
	if err := cfg.Sizes().CheckShapes(weights.Shape); err != nil {
		return nil, bad(fmt.Errorf("%s: config.json: %w", o.Model, err))
	}
	if ad != nil {
		m, err := peft.Merged(weights, ad)
		if err != nil {
			return nil, bad(err)
		}
		weights = m
	}
	vocab, err := convert.LoadVocab(o.Model, cfg, "")
	if err != nil {
		return nil, bad(err)
	}
	eos := ""
	if vocab.EOS >= 0 {
		eos = vocab.Tokens[vocab.EOS]
	}
	family, trainTemplate, err := chooseTemplate(o.Template, vocab.ChatTemplate, eos)
	if err != nil {
		return nil, bad(err)
	}
	res := &Result{Template: string(family), Arch: arch}
	steps := float64(len(formats) + len(types))
	if o.Check {
		steps++
	}
	done := 0.0
	step := func(msg string) { progress(done/steps, msg); done++ }

	if slices.Contains(formats, FormatAdapter) {
		step("adapter")
		dir := filepath.Join(o.Out, "adapter")
		c := ad.Config
		c.BaseModelNameOrPath = absPath(o.Model)
		if err := peft.Write(dir, &peft.Adapter{Config: c, Layers: ad.Layers}); err != nil {
			return nil, err
		}
		if err := res.add(o.Out, dir, FormatAdapter, ""); err != nil {
			return nil, err
		}
	}
	if slices.Contains(formats, FormatMerged) {
		step("merged model")
		dt, err := mergedDType(o.DType, o.Model)
		if err != nil {
			return nil, bad(err)
		}
		dir := filepath.Join(o.Out, "merged")
		if err := hfmodel.Write(ctx, dir, &hfmodel.Params{BaseDir: o.Model, Weights: weights, DType: dt, ChatTemplate: trainTemplate}); err != nil {
			return nil, err
		}
		if err := res.add(o.Out, dir, FormatMerged, strings.ToLower(string(dt))); err != nil {
			return nil, err
		}
	}
	if slices.Contains(formats, FormatGGUF) {
		dir := filepath.Join(o.Out, "gguf")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		name := o.Name
		if name == "" {
			name = filepath.Base(absPath(o.Model))
		}
		var first string
		var toCheck []ggufCheck
		for _, ft := range types {
			step("gguf " + string(ft))
			file := fmt.Sprintf("%s-%s.gguf", safeName(name), ft)
			log.InfoContext(ctx, "export gguf", slog.String("file", file))
			if err := writeFile(filepath.Join(dir, file), func(w io.Writer) error {
				_, err := convert.Model(ctx, w, &convert.Params{Dir: o.Model, Weights: weights, Type: ft, Name: name, ChatTemplate: trainTemplate})
				return err
			}); err != nil {
				return nil, fmt.Errorf("gguf %s: %w", ft, err)
			}
			if first == "" {
				first = file
			}
			if err := res.add(o.Out, filepath.Join(dir, file), FormatGGUF, string(ft)); err != nil {
				return nil, err
			}
			mf := ollama.New("./"+file, family, eos)
			mf.System = ollama.DefaultSystem(vocab.ChatTemplate)
			if mf.System == "" && family == ollama.Alpaca {
				mf.System = template.AlpacaPreamble // as preprocess's alpaca template put it before each instruction
			}
			mfName := "Modelfile"
			if file != first {
				mfName = "Modelfile." + string(ft)
			}
			if err := os.WriteFile(filepath.Join(dir, mfName), []byte(mf.String()), 0o644); err != nil {
				return nil, err
			}
			toCheck = append(toCheck, ggufCheck{path: filepath.Join(dir, file), file: "gguf/" + file, typ: string(ft), modelfile: filepath.Join(dir, mfName)})
			if err := res.add(o.Out, filepath.Join(dir, mfName), FormatGGUF, "modelfile"); err != nil {
				return nil, err
			}
		}
		if ad != nil && slices.Contains(formats, FormatAdapter) {
			file := safeName(name) + "-lora-f16.gguf"
			if err := writeFile(filepath.Join(dir, file), func(w io.Writer) error {
				_, err := convert.Adapter(ctx, w, &convert.AdapterParams{BaseDir: o.Model, Adapter: ad, Type: convert.F16, Name: name + "-lora"})
				return err
			}); err != nil {
				return nil, fmt.Errorf("gguf adapter: %w", err)
			}
			// Read it back: what llama.cpp will load must be the adapter.
			ac, err := verify.Adapter(&verify.AdapterParams{Path: filepath.Join(dir, file), File: "gguf/" + file, BaseDir: o.Model, Adapter: ad, Type: convert.F16})
			if err != nil {
				return nil, fmt.Errorf("gguf adapter: %w", err)
			}
			res.AdapterCheck = ac
			if !ac.Passed {
				return res, fmt.Errorf("%w: the GGUF LoRA adapter does not read back as the adapter: %s", ErrCheckFailed, ac.Error())
			}
			if err := res.add(o.Out, filepath.Join(dir, file), FormatGGUF, "lora-f16"); err != nil {
				return nil, err
			}
		}
		if o.Check {
			step("check")
			checks, err := checkGGUFs(ctx, o, family, trainTemplate, eos, toCheck)
			res.Checks = checks
			if err != nil {
				return res, err
			}
		}
	}
	progress(1, "done")
	return res, nil
}

// chooseTemplate picks the chat family and, for models without a chat
// template, the Jinja template to store with the export.
func chooseTemplate(name, modelTemplate, eos string) (ollama.Family, string, error) {
	if name == "" || name == "auto" {
		if modelTemplate == "" {
			return ollama.Alpaca, ollama.Alpaca.Jinja(eos), nil
		}
		if f, ok := ollama.Detect(modelTemplate); ok {
			return f, "", nil
		}
		return ollama.Raw, "", nil
	}
	f, err := ollama.ParseFamily(name)
	if err != nil {
		return "", "", err
	}
	if modelTemplate == "" {
		return f, f.Jinja(eos), nil
	}
	return f, "", nil
}

func mergedDType(s, model string) (safetensors.DType, error) {
	switch strings.ToLower(s) {
	case "f32", "float32":
		return safetensors.F32, nil
	case "bf16", "bfloat16":
		return safetensors.BF16, nil
	case "f16", "float16":
		return safetensors.F16, nil
	case "", "auto":
		var raw struct {
			TorchDType string `json:"torch_dtype"`
		}
		if b, err := os.ReadFile(filepath.Join(model, "config.json")); err == nil {
			_ = json.Unmarshal(b, &raw) // LoadConfig already validated the file
		}
		switch raw.TorchDType {
		case "bfloat16":
			return safetensors.BF16, nil
		case "float16":
			return safetensors.F16, nil
		}
		return safetensors.F32, nil
	}
	return "", fmt.Errorf("merged dtype %q: want f32, bf16, f16 or auto", s)
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == '\\' {
			return '-'
		}
		return r
	}, s)
}

// writeFile writes through a temporary file renamed into place.
func writeFile(path string, fn func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// add records path (a file, or every file of a folder).
func (r *Result) add(root, path, format, typ string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	var paths []string
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !e.IsDir() {
				paths = append(paths, filepath.Join(path, e.Name()))
			}
		}
		sort.Strings(paths)
	} else {
		paths = []string{path}
	}
	for _, p := range paths {
		sum, size, err := HashFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		r.Files = append(r.Files, File{Path: filepath.ToSlash(rel), Format: format, Type: typ, Size: size, SHA256: sum})
	}
	return nil
}

// HashFile returns the hex SHA-256 and size of the file at path.
func HashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
