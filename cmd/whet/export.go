package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/whetstone/whetstone/internal/export"
	"github.com/whetstone/whetstone/internal/export/convert"
)

func init() {
	register(&command{name: "export", summary: "export a model (+ LoRA adapter) as a PEFT adapter, merged model or GGUF with an Ollama Modelfile", run: runExport})
}

// listFlag collects comma-separated values from a repeatable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func runExport(ctx context.Context, args []string, sio stdio) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(sio.err)
	model := fs.String("model", "", "base (or fully fine-tuned) model folder in Hugging Face layout (required)")
	adapter := fs.String("adapter", "", "PEFT LoRA adapter folder trained on --model")
	out := fs.String("out", "", "output folder (required); formats go to OUT/adapter, OUT/merged, OUT/gguf")
	var formats, types listFlag
	fs.Var(&formats, "format", "adapter, merged, gguf (comma-separated or repeated; default gguf)")
	fs.Var(&types, "type", "GGUF types: f32, f16, bf16, q8_0, q4_0, q4_k_m (comma-separated or repeated; default f16)")
	dtype := fs.String("dtype", "auto", "merged model dtype: auto (the base's), f32, bf16, f16")
	tmpl := fs.String("template", "auto", "chat template family for the Modelfile: auto, chatml, llama3, llama2, alpaca, raw")
	name := fs.String("name", "", "model name in GGUF metadata and file names (default: the model folder name)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	check := fs.Bool("check", true, "load every GGUF back and replay held-out prompts against the model it came from; fail on a mismatch")
	fs.Usage = func() {
		fmt.Fprintln(sio.err, "usage: whet export --model BASE [--adapter DIR] --format gguf|merged|adapter [--type q8_0] --out DIR")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" || *out == "" {
		fs.Usage()
		return errors.New("export: --model and --out are required")
	}
	o := &export.Options{Model: *model, Adapter: *adapter, Out: *out, Formats: formats, DType: *dtype, Template: *tmpl, Name: *name, Check: *check,
		Logger: slog.New(slog.NewTextHandler(sio.err, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	for _, s := range types {
		ft, err := convert.ParseFileType(s)
		if err != nil {
			return fmt.Errorf("export: --type: %w", err)
		}
		o.GGUFTypes = append(o.GGUFTypes, ft)
	}
	start := time.Now()
	o.Progress = func(f float64, msg string) {
		if !*asJSON && msg != "done" {
			fmt.Fprintf(sio.err, "[%3.0f%%] %s\n", 100*f, msg)
		}
	}
	res, err := export.Run(ctx, o)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	for _, c := range res.Checks {
		fmt.Fprintf(sio.err, "check %s: greedy agreement %.3f (%d near-tie flips), max log-prob gap %.3g, template %v: passed\n",
			c.File, c.GreedyAgreement, c.NearTieFlips, c.MaxLogprobGap, c.Template != nil && c.Template.Passed)
	}
	if *asJSON {
		enc := json.NewEncoder(sio.out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	tw := tabwriter.NewWriter(sio.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tFORMAT\tTYPE\tSIZE\tSHA256")
	for _, f := range res.Files {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", f.Path, f.Format, f.Type, f.Size, f.SHA256[:16])
	}
	tw.Flush()
	fmt.Fprintf(sio.out, "chat template %s, %d files in %s (%.1fs)\n", res.Template, len(res.Files), *out, time.Since(start).Seconds())
	return nil
}
