// Package gpus is the GPU manager: the inventory of the machine's NVIDIA
// GPUs through NVML (loaded at run time; an empty list without a GPU or
// driver), and leases that give a node a free device with enough memory
// or queue it until one is released. A lease is an exclusive flock on a
// per-device file, so it is shared by every whet process on the machine
// and released by the kernel when the process holding it dies.
package gpus

import (
	"errors"
	"sync"
)

// GPU is one device as NVML reports it.
type GPU struct {
	Index          int    `json:"index"`
	Name           string `json:"name"`
	UUID           string `json:"uuid"`
	MemoryTotal    int64  `json:"memory_total_bytes"`
	MemoryUsed     int64  `json:"memory_used_bytes"`
	UtilizationGPU int    `json:"utilization_gpu_percent"`
	TemperatureC   int    `json:"temperature_c"`
	DriverVersion  string `json:"driver_version"`
}

// ErrNoNVML is returned by Query when NVML cannot be loaded (no driver,
// no GPU, or a build without cgo).
var ErrNoNVML = errors.New("NVML unavailable")

var mu sync.Mutex

// Query returns every GPU, or an error wrapping ErrNoNVML.
func Query() ([]GPU, error) {
	mu.Lock()
	defer mu.Unlock()
	return query()
}

// List is Query with "no NVML" as an empty list: what `whet gpus` and
// GET /api/v1/gpus serve.
func List() ([]GPU, error) {
	g, err := Query()
	if errors.Is(err, ErrNoNVML) {
		return []GPU{}, nil
	}
	if g == nil {
		g = []GPU{}
	}
	return g, err
}
