package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/whetstone/whetstone/internal/engine/device"
	"github.com/whetstone/whetstone/internal/engine/gpu"
	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// loadModel loads a model folder (its projections in 4-bit NF4 when nf4 is
// set, as a QLoRA base), its tokenizer, and an optional adapter.
func loadModel(dir, adapter string, nf4 bool) (*model.Model, *tokenizer.Tokenizer, error) {
	if dir == "" {
		return nil, nil, fmt.Errorf("%w: --model is required", errUsage)
	}
	load := model.Load
	if nf4 {
		load = func(dir string) (*model.Model, error) { return model.LoadNF4(dir, false) }
	}
	m, err := load(dir)
	if err != nil {
		return nil, nil, err
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("load tokenizer: %w", err)
	}
	if adapter != "" {
		if _, err := m.LoadAdapter(adapter); err != nil {
			return nil, nil, err
		}
	}
	return m, tok, nil
}

func init() {
	register(&command{name: "generate", summary: "generate text from a model (optionally with a LoRA adapter)", run: runGenerate})
}

func runGenerate(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(io.err)
	dir := fs.String("model", "", "model folder (Hugging Face layout)")
	adapter := fs.String("adapter", "", "PEFT LoRA adapter folder, applied without merging")
	prompt := fs.String("prompt", "", "prompt text (empty: start from BOS)")
	maxNew := fs.Int("max-new-tokens", 128, "tokens to generate")
	temp := fs.Float64("temperature", 0, "sampling temperature (0: greedy)")
	topK := fs.Int("top-k", 0, "keep the k most likely tokens (0: all)")
	topP := fs.Float64("top-p", 1, "nucleus sampling mass")
	rep := fs.Float64("repetition-penalty", 1, "penalty for already-seen tokens (1: none)")
	seed := fs.Uint64("seed", 0, "sampling seed")
	nf4 := fs.Bool("nf4", false, "hold the base's projections in 4-bit NF4 (as a qlora adapter was trained)")
	devName := fs.String("device", "auto", "auto (a usable GPU, else the CPU), cpu, cuda or cuda:N")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := device.Check(*devName); err != nil {
		return fmt.Errorf("%w: --device: %w", errUsage, err)
	}
	m, tok, err := loadModel(*dir, *adapter, *nf4)
	if err != nil {
		return err
	}
	generate := m.Generate
	dev, err := device.Select(*devName, slog.New(deviceLogHandler{slog.NewTextHandler(io.err, nil)}))
	if err != nil {
		return err
	}
	if dev != nil {
		g, err := gpu.New(dev, m, gpu.Options{})
		if err != nil {
			return err
		}
		defer g.Close()
		generate = g.Generate
	}
	ids := tok.Encode(*prompt, true)
	if bos, ok := tok.BOS(); ok && (len(ids) == 0 || ids[0] != bos) {
		ids = append([]int{bos}, ids...)
	}
	if len(ids) == 0 {
		return fmt.Errorf("prompt is empty and the tokenizer has no BOS token")
	}
	var stop []int32
	for _, s := range tok.StopTokens() {
		stop = append(stop, int32(s))
	}
	if eos, ok := tok.EOS(); ok {
		stop = append(stop, int32(eos))
	}
	prompt32 := make([]int32, len(ids))
	for i, v := range ids {
		prompt32[i] = int32(v)
	}
	fmt.Fprint(io.out, *prompt)
	var gen []int
	printed := ""
	_, err = generate(ctx, prompt32, model.GenerateOptions{MaxNewTokens: *maxNew, Temperature: *temp, TopK: *topK, TopP: *topP,
		RepetitionPenalty: *rep, Stop: stop, Seed: *seed}, func(id int32) bool {
		gen = append(gen, int(id))
		text := tok.Decode(append(append([]int(nil), ids...), gen...), true)
		full := tok.Decode(ids, true)
		text = strings.TrimPrefix(text, full)
		if strings.HasPrefix(text, printed) && !strings.HasSuffix(text, "\uFFFD") {
			fmt.Fprint(io.out, text[len(printed):])
			printed = text
		}
		return true
	})
	fmt.Fprintln(io.out)
	return err
}
