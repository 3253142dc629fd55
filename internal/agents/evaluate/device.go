package evaluate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/engine/cuda"
	"github.com/whetstone/whetstone/internal/engine/device"
	"github.com/whetstone/whetstone/internal/eval"
	"github.com/whetstone/whetstone/internal/eval/enginemodel"
)

// DeviceParam is the device param of the evaluate and compare agents. A
// name package device does not accept fails validation at submit time.
func DeviceParam() agent.Param {
	return agent.Param{Name: "device", Type: agent.String, Default: "auto", Check: device.Check,
		Description: "where the model runs: auto (a usable GPU, else the CPU), cpu, cuda or cuda:N. Defaults to auto."}
}

// Models loads the models the evaluate and compare agents run, on the
// device their device param names.
type Models struct {
	// Load, when set, loads every model whatever the device (tests'
	// fakes). Nil: Whetstone's engine on the selected device
	// (enginemodel.LoadOn).
	Load eval.Loader
	// Open opens a CUDA device. Nil: cuda.Open.
	Open device.Opener
}

// Select resolves the device param name (auto, cpu, cuda, cuda:N; empty is
// auto) with package device, which logs the choice and why ("device: CPU"
// or "device: GPU"), and returns the loader for it and the device's name
// for reports: "cpu" or "cuda:N". auto without a usable GPU is the CPU; an
// explicit cuda that cannot be opened is an error (permanent: a retry on
// this machine cannot help).
func (ms Models) Select(name string, log *slog.Logger) (eval.Loader, string, error) {
	open := ms.Open
	if open == nil {
		open = cuda.Open
	}
	dev, err := device.SelectWith(name, open, log)
	if err != nil {
		return nil, "", agent.Permanent(err)
	}
	used := "cpu"
	if dev != nil {
		used = fmt.Sprintf("cuda:%d", dev.Info.Index)
	}
	if ms.Load != nil {
		return ms.Load, used, nil
	}
	return enginemodel.LoadOn(dev), used, nil
}

// LoadModel selects the device (Select) and loads base with adapter onto
// it. It returns the model, its tokenizer and the device it is on. With
// auto, a model the GPU cannot hold (device memory, a head size the
// kernels lack) runs on the CPU, and that is logged with the reason.
func (ms Models) LoadModel(ctx context.Context, name, base, adapter string, log *slog.Logger) (eval.Model, eval.Tokenizer, string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	load, used, err := ms.Select(name, log)
	if err != nil {
		return nil, nil, "", err
	}
	m, tok, err := load(ctx, base, adapter)
	var de *enginemodel.DeviceError
	if errors.As(err, &de) && ms.Load == nil {
		if s, _ := device.Parse(name); s.Kind == "auto" {
			log.InfoContext(ctx, "device: CPU", "why", "auto: "+de.Error())
			used = "cpu"
			m, tok, err = enginemodel.Load(ctx, base, adapter)
		}
	}
	if err != nil {
		return nil, nil, "", agent.Permanent(err)
	}
	return m, tok, used, nil
}

// CloseModel frees what a loaded model holds (its device memory), when it
// can (io.Closer).
func CloseModel(m eval.Model) {
	if c, ok := m.(io.Closer); ok {
		c.Close()
	}
}
