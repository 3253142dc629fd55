package main

import (
	"context"
	"encoding/json"

	"github.com/whetstone/whetstone/internal/gpus"
)

func init() {
	register(&command{name: "gpus", summary: "list the machine's NVIDIA GPUs as JSON (NVML; [] without a GPU)", run: func(ctx context.Context, args []string, io stdio) error {
		g, err := gpus.List()
		if err != nil {
			return err
		}
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(g)
	}})
}
