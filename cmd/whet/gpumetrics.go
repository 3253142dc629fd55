package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/whetstone/whetstone/internal/gpus"
	"github.com/whetstone/whetstone/internal/metrics"
)

// sampleGPUs feeds the whet_gpu_* gauges from the GPU manager's inventory.
func sampleGPUs(context.Context) ([]metrics.GPU, error) {
	gs, err := gpus.List()
	if err != nil {
		return nil, err
	}
	out := make([]metrics.GPU, 0, len(gs))
	for _, g := range gs {
		out = append(out, metrics.GPU{Index: g.Index, Name: g.Name, Utilization: float64(g.UtilizationGPU) / 100,
			MemoryUsedBytes: uint64(max(g.MemoryUsed, 0)), MemoryTotal: uint64(max(g.MemoryTotal, 0))})
	}
	return out, nil
}

// gpuInventory describes the GPUs for `whet doctor`.
func gpuInventory(context.Context) (string, error) {
	gs, err := gpus.Query()
	if errors.Is(err, gpus.ErrNoNVML) {
		return "no NVIDIA GPU or driver (" + err.Error() + "): training runs on the CPU", nil
	}
	if err != nil {
		return "", err
	}
	if len(gs) == 0 {
		return "NVML loaded, no GPU: training runs on the CPU", nil
	}
	var parts []string
	for _, g := range gs {
		parts = append(parts, fmt.Sprintf("cuda:%d %s (%.0f GiB, %.0f GiB free, %d°C)", g.Index, g.Name,
			float64(g.MemoryTotal)/(1<<30), float64(g.MemoryTotal-g.MemoryUsed)/(1<<30), g.TemperatureC))
	}
	return fmt.Sprintf("%d GPU(s), driver %s: %s", len(gs), gs[0].DriverVersion, strings.Join(parts, "; ")), nil
}
