package compare

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/engine/cuda"
)

// TestCompareDevice: the base model's re-run goes through package device
// (logged with why), and comparison.json (base.device) and the artifact
// meta record where it ran; an explicit cuda without a GPU is a permanent
// error before the base model is loaded; with two reports nothing runs
// and no device is opened.
func TestCompareDevice(t *testing.T) {
	t.Parallel()
	noGPU := func(opened *atomic.Int32) func(int) (*cuda.Device, error) {
		return func(int) (*cuda.Device, error) {
			opened.Add(1)
			return nil, fmt.Errorf("%w: the driver sees no CUDA device", cuda.ErrUnavailable)
		}
	}
	fakeGPU := func(opened *atomic.Int32) func(int) (*cuda.Device, error) {
		return func(i int) (*cuda.Device, error) {
			opened.Add(1)
			return &cuda.Device{Info: cuda.DeviceInfo{Index: i, Name: "Fake GPU"}}, nil
		}
	}
	for _, tc := range []struct {
		name, device string
		gpu          bool
		want         string
		wantErr      string
		wantLog      string
	}{
		{"auto without GPU", "auto", false, "cpu", "", "auto: no usable GPU"},
		{"cpu", "cpu", true, "cpu", "", "--device cpu"},
		{"cuda:2 with GPU", "cuda:2", true, "cuda:2", "", "device: GPU"},
		{"cuda without GPU", "cuda", false, "", "compare: base model: device cuda:0: cuda unavailable", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls, opened atomic.Int32
			_, model, data := setupData(t)
			report := runEvaluate(t, loader(&calls), agent.Params{"device": "cpu"}, model, data)
			calls.Store(0)
			a := New(loader(&calls)).(*Agent)
			a.models.Open = noGPU(&opened)
			if tc.gpu {
				a.models.Open = fakeGPU(&opened)
			}
			p := compareParams()
			p["device"] = tc.device
			var logs bytes.Buffer
			out := t.TempDir()
			arts, err := a.Run(t.Context(), &agent.Env{Params: p, OutDir: out, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Inputs: []agent.Artifact{{Type: agent.Report, Path: report}}})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !agent.IsPermanent(err) {
					t.Fatalf("error %v, want a permanent one containing %q", err, tc.wantErr)
				}
				if calls.Load() != 0 {
					t.Errorf("the base model was loaded %d times", calls.Load())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, logs.String())
			}
			c := readComparison(t, out)
			if c.Base.Device != tc.want || arts[0].Meta["device"] != tc.want {
				t.Errorf("base device %q, meta %v; want %q", c.Base.Device, arts[0].Meta["device"], tc.want)
			}
			if c.Tuned.Device != "cpu" {
				t.Errorf("the tuned evaluation's device %q, want cpu as it was evaluated", c.Tuned.Device)
			}
		})
	}
	t.Run("two reports", func(t *testing.T) {
		t.Parallel()
		var calls, opened atomic.Int32
		_, model, data := setupData(t)
		tuned := runEvaluate(t, loader(&calls), agent.Params{"device": "cpu"}, model, data)
		a := New(loader(&calls)).(*Agent)
		a.models.Open = noGPU(&opened)
		p := compareParams()
		p["device"] = "cuda"
		arts, err := a.Run(t.Context(), &agent.Env{Params: p, OutDir: t.TempDir(),
			Inputs: []agent.Artifact{{Type: agent.Report, Path: tuned}, {Type: agent.Report, Path: tuned}}})
		if err != nil {
			t.Fatal(err)
		}
		if opened.Load() != 0 {
			t.Errorf("a device was opened %d times with nothing to run", opened.Load())
		}
		if _, ok := arts[0].Meta["device"]; ok {
			t.Errorf("meta device %v with nothing run", arts[0].Meta["device"])
		}
	})
}
