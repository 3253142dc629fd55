package device

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/engine/cuda"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Spec
		bad  bool
	}{
		{"", Spec{Kind: "auto"}, false},
		{"auto", Spec{Kind: "auto"}, false},
		{"CPU", Spec{Kind: "cpu"}, false},
		{"cuda", Spec{Kind: "cuda"}, false},
		{"cuda:3", Spec{Kind: "cuda", Index: 3}, false},
		{"cuda:-1", Spec{}, true},
		{"cuda:x", Spec{}, true},
		{"tpu", Spec{}, true},
	} {
		got, err := Parse(c.in)
		if c.bad {
			if !errors.Is(err, ErrBadDevice) || !strings.Contains(err.Error(), "auto, cpu, cuda or cuda:N") {
				t.Errorf("Parse(%q): error %v, want ErrBadDevice naming the choices", c.in, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestSelectFallsBackOnlyForAuto(t *testing.T) {
	noGPU := func(i int) (*cuda.Device, error) {
		return nil, fmt.Errorf("%w: the driver sees no CUDA device", cuda.ErrUnavailable)
	}
	var opened []int
	fake := &cuda.Device{Info: cuda.DeviceInfo{Index: 1, Name: "Fake GPU"}}
	gpu := func(i int) (*cuda.Device, error) {
		opened = append(opened, i)
		return fake, nil
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	d, err := SelectWith("auto", noGPU, log)
	if d != nil || err != nil {
		t.Fatalf("auto without GPU: %v, %v; want the CPU", d, err)
	}
	if !strings.Contains(logs.String(), "device: CPU") || !strings.Contains(logs.String(), "no CUDA device") {
		t.Errorf("auto fallback not logged with its reason: %s", logs.String())
	}
	if _, err := SelectWith("cuda:0", noGPU, log); !errors.Is(err, cuda.ErrUnavailable) || !strings.Contains(err.Error(), "device cuda:0") {
		t.Errorf("explicit cuda without GPU: %v; want an error naming the device", err)
	}
	if d, err := SelectWith("cpu", gpu, log); d != nil || err != nil || len(opened) != 0 {
		t.Errorf("cpu: %v %v, opened %v; want the CPU without touching the GPU", d, err, opened)
	}
	logs.Reset()
	if d, err := SelectWith("auto", gpu, log); d != fake || err != nil || !strings.Contains(logs.String(), "device: GPU") {
		t.Errorf("auto with a GPU: %v %v; log %s", d, err, logs.String())
	}
	if d, err := SelectWith("cuda:1", gpu, log); d != fake || err != nil || opened[len(opened)-1] != 1 {
		t.Errorf("cuda:1 opened %v: %v %v", opened, d, err)
	}
	if _, err := SelectWith("cuda:zz", gpu, log); !errors.Is(err, ErrBadDevice) {
		t.Errorf("bad name: %v", err)
	}
}

// TestSelectOnThisMachine runs the real discovery: on a machine without a
// GPU auto must give the CPU (never an error); with one, a device.
func TestSelectOnThisMachine(t *testing.T) {
	d, err := Select("auto", nil)
	if err != nil {
		t.Fatalf("auto must never fail: %v", err)
	}
	if _, oerr := cuda.Open(0); (oerr == nil) != (d != nil) {
		t.Errorf("auto gave %v but cuda.Open says %v", d, oerr)
	}
}
