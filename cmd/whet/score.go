package main

import (
	"log/slog"

	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/whetstone/whetstone/internal/engine/device"
	"github.com/whetstone/whetstone/internal/engine/gpu"
	"math"
	"os"

	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
)

func init() {
	register(&command{name: "score", summary: "mean next-token loss and perplexity of a text file", run: runScore})
}

func runScore(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	fs.SetOutput(io.err)
	dir := fs.String("model", "", "model folder")
	adapter := fs.String("adapter", "", "PEFT LoRA adapter folder")
	file := fs.String("text-file", "", "text to score")
	window := fs.Int("window", 0, "tokens per window (default: max_position_embeddings, at most 2048)")
	nf4 := fs.Bool("nf4", false, "hold the base's projections in 4-bit NF4 (as a qlora adapter was trained)")
	devName := fs.String("device", "auto", "auto (a usable GPU, else the CPU), cpu, cuda or cuda:N")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" {
		return fmt.Errorf("%w: --text-file is required", errUsage)
	}
	text, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	m, tok, err := loadModel(*dir, *adapter, *nf4)
	if err != nil {
		return err
	}
	ids := tok.Encode(string(text), true)
	w := *window
	if w <= 0 {
		w = min(m.Rope.MaxPos, 2048)
	}
	var fwd forwarder = m
	dev, err := device.Select(*devName, slog.New(slog.NewTextHandler(io.err, nil)))
	if err != nil {
		return err
	}
	if dev != nil {
		g, err := gpu.New(dev, m, gpu.Options{})
		if err != nil {
			return err
		}
		defer g.Close()
		fwd = g
	}
	sum, n, err := Score(ctx, fwd, ids, w)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: fewer than two tokens", *file)
	}
	mean := sum / float64(n)
	b, _ := json.Marshal(map[string]any{"tokens": n, "mean_loss": mean, "perplexity": math.Exp(mean)})
	fmt.Fprintln(io.out, string(b))
	return nil
}

// forwarder runs a forward pass: the CPU model or its GPU copy.
type forwarder interface {
	ForwardBackward(b *model.Batch, gradScale float32, backward bool) (float64, int, error)
}

// Score sums the next-token loss of ids over consecutive windows of w
// tokens; it returns the sum and the number of predicted tokens.
func Score(ctx context.Context, m forwarder, ids []int, w int) (float64, int, error) {
	var sum float64
	var n int
	for s := 0; s+1 < len(ids); s += w - 1 {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		e := min(s+w, len(ids))
		T := e - s
		b := &model.Batch{B: 1, T: T, IDs: make([]int32, T), Labels: make([]int32, T)}
		for i := 0; i < T; i++ {
			b.IDs[i] = int32(ids[s+i])
			if i+1 < T {
				b.Labels[i] = int32(ids[s+i+1])
			} else {
				b.Labels[i] = nn.IgnoreIndex
			}
		}
		ls, c, err := m.ForwardBackward(b, 0, false)
		if err != nil {
			return 0, 0, err
		}
		sum += ls
		n += c
		if e == len(ids) {
			break
		}
	}
	return sum, n, nil
}
