// Package device resolves the --device flag (auto, cpu, cuda, cuda:N) to
// where the engine runs: the CPU or an opened CUDA device. auto takes a GPU
// when one is usable and otherwise the CPU, and logs which and why.
package device

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/whetstone/whetstone/internal/engine/cuda"
)

// Spec is a parsed device name.
type Spec struct {
	Kind  string // auto, cpu or cuda
	Index int    // cuda device ordinal
}

func (s Spec) String() string {
	if s.Kind == "cuda" {
		return fmt.Sprintf("cuda:%d", s.Index)
	}
	return s.Kind
}

// ErrBadDevice is returned for a device name Parse does not accept.
var ErrBadDevice = errors.New("bad device")

// Parse reads auto (or empty), cpu, cuda (= cuda:0) or cuda:N.
func Parse(s string) (Spec, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "", "auto":
		return Spec{Kind: "auto"}, nil
	case "cpu":
		return Spec{Kind: "cpu"}, nil
	case "cuda", "gpu":
		return Spec{Kind: "cuda"}, nil
	}
	if rest, ok := strings.CutPrefix(s, "cuda:"); ok {
		n, err := strconv.Atoi(rest)
		if err == nil && n >= 0 {
			return Spec{Kind: "cuda", Index: n}, nil
		}
	}
	return Spec{}, fmt.Errorf("%w %q: want auto, cpu, cuda or cuda:N (N = 0, 1, ...)", ErrBadDevice, s)
}

// Check reports whether name is a device Parse accepts: nil, or an error
// wrapping ErrBadDevice that names the choices. It fits agent.Param.Check,
// so a bad device param fails at submit time.
func Check(name string) error {
	_, err := Parse(name)
	return err
}

// Opener opens a CUDA device (cuda.Open; tests pass their own).
type Opener func(index int) (*cuda.Device, error)

// Select resolves name: nil for the CPU, or the opened device. auto falls
// back to the CPU when no GPU is usable; an explicit cuda:N that cannot be
// opened is an error. The choice and its reason are logged.
func Select(name string, logger *slog.Logger) (*cuda.Device, error) {
	return SelectWith(name, cuda.Open, logger)
}

// SelectWith is Select with its own opener.
func SelectWith(name string, open Opener, logger *slog.Logger) (*cuda.Device, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s, err := Parse(name)
	if err != nil {
		return nil, err
	}
	switch s.Kind {
	case "cpu":
		logger.Info("device: CPU", "why", "--device cpu")
		return nil, nil
	case "cuda":
		d, err := open(s.Index)
		if err != nil {
			return nil, fmt.Errorf("device %s: %w", s, err)
		}
		logger.Info("device: GPU", "device", d.String(), "why", "--device "+s.String())
		return d, nil
	}
	d, err := open(0)
	if err != nil {
		logger.Info("device: CPU", "why", "auto: no usable GPU: "+err.Error())
		return nil, nil
	}
	logger.Info("device: GPU", "device", d.String(), "why", "auto: a usable GPU was found")
	return d, nil
}
