package evaluate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/engine/cuda"
	"github.com/whetstone/whetstone/internal/engine/device"
	"github.com/whetstone/whetstone/internal/eval"
	"github.com/whetstone/whetstone/internal/eval/enginemodel"
	"github.com/whetstone/whetstone/internal/gpus"
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
	// fakes); no GPU is leased then. Nil: Whetstone's engine on the
	// selected device (enginemodel).
	Load eval.Loader
	// Open opens a CUDA device. Nil: cuda.Open.
	Open device.Opener
	// GPUs, when set, leases the GPU an engine model runs on, as the train
	// agent does: for device auto or cuda (not an explicit cuda:N) on a
	// machine whose inventory lists GPUs, the node waits in the GPU queue
	// while every GPU with room for the model (DeviceBytes) is leased.
	GPUs *gpus.Manager
}

// LoadRequest is what Models.LoadModel loads, and where.
type LoadRequest struct {
	// Device is the device param: auto (or empty), cpu, cuda or cuda:N.
	Device        string
	Base, Adapter string
	// Node names the node in the GPU queue; OnGPUWait, when set, sees its
	// position while it waits.
	Node      string
	OnGPUWait func(position int)
	Logger    *slog.Logger
}

// Loaded is a model ready to evaluate. Close it when done.
type Loaded struct {
	Model     eval.Model
	Tokenizer eval.Tokenizer
	// Device is where it runs: cpu or cuda:N.
	Device string
	lease  *gpus.Lease
}

// Close frees the model's device memory and releases its GPU lease.
func (l *Loaded) Close() {
	if c, ok := l.Model.(io.Closer); ok {
		c.Close()
	}
	if l.lease != nil {
		l.lease.Release()
	}
}

// Select resolves the device param name (auto, cpu, cuda, cuda:N; empty is
// auto) with package device, which logs the choice and why ("device: CPU"
// or "device: GPU"), and returns the loader for it and the device's name
// for reports: "cpu" or "cuda:N". auto without a usable GPU is the CPU; an
// explicit cuda that cannot be opened is a permanent error (a retry on this
// machine cannot help).
func (ms Models) Select(name string, log *slog.Logger) (eval.Loader, string, error) {
	dev, err := ms.open(name, log)
	if err != nil {
		return nil, "", err
	}
	if ms.Load != nil {
		return ms.Load, deviceName(dev), nil
	}
	return enginemodel.LoadOn(dev), deviceName(dev), nil
}

func (ms Models) open(name string, log *slog.Logger) (*cuda.Device, error) {
	open := ms.Open
	if open == nil {
		open = cuda.Open
	}
	dev, err := device.SelectWith(name, open, log)
	if err != nil {
		return nil, agent.Permanent(err)
	}
	return dev, nil
}

func deviceName(dev *cuda.Device) string {
	if dev == nil {
		return "cpu"
	}
	return fmt.Sprintf("cuda:%d", dev.Info.Index)
}

// LoadModel selects the device and loads r.Base with r.Adapter onto it,
// leasing the GPU first when ms.GPUs is set (see Models.GPUs). With auto,
// a model no GPU can hold (device memory, a head size the kernels lack)
// runs on the CPU, and the log says why; with an explicit cuda that is an
// error.
func (ms Models) LoadModel(ctx context.Context, r LoadRequest) (*Loaded, error) {
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	spec, err := device.Parse(r.Device)
	if err != nil {
		return nil, agent.Permanent(err)
	}
	auto := spec.Kind == "auto"
	if ms.Load != nil {
		load, used, err := ms.Select(r.Device, log)
		if err != nil {
			return nil, err
		}
		m, tok, err := load(ctx, r.Base, r.Adapter)
		if err != nil {
			return nil, agent.Permanent(err)
		}
		return &Loaded{Model: m, Tokenizer: tok, Device: used}, nil
	}
	// The engine: load on the CPU, then decide where it runs.
	em, tok, err := enginemodel.Load(ctx, r.Base, r.Adapter)
	if err != nil {
		return nil, agent.Permanent(err)
	}
	m := em.(*enginemodel.Model)
	l := &Loaded{Model: m, Tokenizer: tok, Device: "cpu"}
	cpu := func(why string) (*Loaded, error) {
		log.InfoContext(ctx, "device: CPU", "why", why)
		l.Close()
		l.lease = nil
		l.Device = "cpu"
		return l, nil
	}
	name := r.Device
	if ms.GPUs != nil && spec.Kind != "cpu" && !strings.Contains(name, ":") {
		if gs, err := ms.GPUs.Inventory(); err == nil && len(gs) > 0 {
			need := m.DeviceBytes()
			lease, err := ms.GPUs.Acquire(ctx, r.Node, need, r.OnGPUWait)
			switch {
			case err == nil:
				l.lease = lease
				name = lease.Device()
				log.InfoContext(ctx, "gpu leased", slog.String("device", name), slog.String("gpu", lease.GPU.Name),
					slog.String("uuid", lease.GPU.UUID), slog.Int64("need_bytes", need))
			case ctx.Err() != nil:
				return nil, ctx.Err()
			case auto && errors.Is(err, gpus.ErrNoGPU):
				return cpu("auto: " + err.Error())
			default:
				return nil, agent.Permanent(err)
			}
		}
	}
	dev, err := ms.open(name, log)
	if err != nil {
		if auto {
			return cpu("auto: " + err.Error())
		}
		l.Close()
		return nil, err
	}
	if dev == nil {
		return l, nil
	}
	if err := m.ToDevice(dev, r.Base); err != nil {
		if auto {
			return cpu("auto: " + err.Error())
		}
		l.Close()
		return nil, agent.Permanent(err)
	}
	l.Device = deviceName(dev)
	return l, nil
}

// GPUWait reports a node's place in the GPU queue as its progress and log,
// as the train agent does.
func GPUWait(emit agent.Emitter) func(position int) {
	return func(pos int) {
		msg := fmt.Sprintf("waiting for a GPU: position %d in the queue", pos)
		emit.Progress(0, 0, msg)
		emit.Log(slog.LevelInfo, msg, slog.Int("gpu_queue_position", pos))
	}
}
