package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetstone/whetstone/internal/safetensors"
)

// rewrite copies tiny-llama into a temp folder with its tensors converted to
// dtype and split over shards files (with an index when shards > 1).
func rewrite(t *testing.T, dtype safetensors.DType, shards int) string {
	t.Helper()
	dir := t.TempDir()
	cfg, _ := os.ReadFile("testdata/tiny-llama/config.json")
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	f, err := safetensors.Open("testdata/tiny-llama/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parts := make([][]safetensors.Tensor, shards)
	weightMap := map[string]string{}
	for i, n := range f.Names() {
		d, sh, _ := f.Float32(n)
		b, err := safetensors.ConvertF32(d, dtype)
		if err != nil {
			t.Fatal(err)
		}
		parts[i%shards] = append(parts[i%shards], safetensors.Tensor{Name: n, DType: dtype, Shape: sh, Data: b})
		weightMap[n] = fmt.Sprintf("model-%05d-of-%05d.safetensors", i%shards+1, shards)
	}
	for i, p := range parts {
		var buf bytes.Buffer
		if err := safetensors.Write(&buf, p, nil); err != nil {
			t.Fatal(err)
		}
		name := "model.safetensors"
		if shards > 1 {
			name = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, shards)
		}
		os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644)
	}
	if shards > 1 {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
		os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), b, 0o644)
	}
	return dir
}

func TestLoadDtypesAndShards(t *testing.T) {
	t.Parallel()
	want := readTensor(t, "testdata/tiny-llama.logits.safetensors", "logits")
	for _, tc := range []struct {
		name   string
		dtype  safetensors.DType
		shards int
		tol    float64
	}{
		{"f32-sharded", safetensors.F32, 3, 1e-4},
		{"f16", safetensors.F16, 1, 2e-2},
		{"bf16-sharded", safetensors.BF16, 2, 1e-1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := Load(rewrite(t, tc.dtype, tc.shards))
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Forward(m.NewCache(32), tinyIDs, true)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(got, want); d > tc.tol {
				t.Fatalf("logits differ from the f32 reference by %.3g > %.3g", d, tc.tol)
			}
		})
	}
}

func TestBF16ProductsCloseToF32(t *testing.T) {
	t.Parallel()
	m, err := Load(storiesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	want := readTensor(t, "testdata/stories260K.logits.safetensors", "logits")
	m.UseBF16(true)
	got, err := m.Forward(m.NewCache(64), storiesIDs, true)
	if err != nil {
		t.Fatal(err)
	}
	// bf16 keeps 8 bits of mantissa: logits (magnitude ~10) move by tenths
	// at most, and the greedy choice almost never changes.
	V := m.Cfg.VocabSize
	same := 0
	for i := range storiesIDs {
		if argmax(got[i*V:(i+1)*V]) == argmax(want[i*V:(i+1)*V]) {
			same++
		}
	}
	d := maxAbsDiff(got, want)
	if d > 0.5 || same < len(storiesIDs)-1 {
		t.Fatalf("bf16 logits differ by %.3g, argmax agrees at %d/%d positions", d, same, len(storiesIDs))
	}
	t.Logf("bf16 logits max abs diff %.3g, argmax agrees at %d/%d", d, same, len(storiesIDs))
}

func TestSlidingWindowRefused(t *testing.T) {
	t.Parallel()
	dir := rewrite(t, safetensors.F32, 1)
	var cfg map[string]any
	readJSON(t, filepath.Join(dir, "config.json"), &cfg)
	cfg["model_type"], cfg["sliding_window"] = "mistral", 8
	b, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Forward(m.NewCache(32), tinyIDs[:8], false); err != nil {
		t.Fatalf("within the window: %v", err)
	}
	if _, err := m.Forward(m.NewCache(32), tinyIDs, false); err == nil || !strings.Contains(err.Error(), "sliding window") {
		t.Fatalf("err = %v, want a sliding-window refusal", err)
	}
}
