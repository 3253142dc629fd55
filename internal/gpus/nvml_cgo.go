//go:build cgo && linux

package gpus

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

var nvmlReady bool

func query() ([]GPU, error) {
	if !nvmlReady {
		if r := safeInit(); r != nvml.SUCCESS {
			return nil, fmt.Errorf("%w: %s", ErrNoNVML, nvml.ErrorString(r))
		}
		nvmlReady = true
	}
	n, r := nvml.DeviceGetCount()
	if r != nvml.SUCCESS {
		return nil, fmt.Errorf("nvml: device count: %s", nvml.ErrorString(r))
	}
	driver, _ := nvml.SystemGetDriverVersion()
	out := make([]GPU, 0, n)
	for i := 0; i < n; i++ {
		d, r := nvml.DeviceGetHandleByIndex(i)
		if r != nvml.SUCCESS {
			return nil, fmt.Errorf("nvml: device %d: %s", i, nvml.ErrorString(r))
		}
		g := GPU{Index: i, DriverVersion: driver}
		g.Name, _ = d.GetName()
		g.UUID, _ = d.GetUUID()
		if m, r := d.GetMemoryInfo(); r == nvml.SUCCESS {
			g.MemoryTotal, g.MemoryUsed = int64(m.Total), int64(m.Used)
		}
		if u, r := d.GetUtilizationRates(); r == nvml.SUCCESS {
			g.UtilizationGPU = int(u.Gpu)
		}
		if t, r := d.GetTemperature(nvml.TEMPERATURE_GPU); r == nvml.SUCCESS {
			g.TemperatureC = int(t)
		}
		out = append(out, g)
	}
	return out, nil
}

// safeInit is nvml.Init; go-nvml panics in some versions when the library
// is missing, which is an ordinary "no GPU" here.
func safeInit() (r nvml.Return) {
	defer func() {
		if recover() != nil {
			r = nvml.ERROR_LIBRARY_NOT_FOUND
		}
	}()
	return nvml.Init()
}
