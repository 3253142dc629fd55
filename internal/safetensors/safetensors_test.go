package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const stories = "../../../shared/assets/models/stories260K"

// TestStoriesMatchesNumpy reads the real stories260K weights and compares each
// tensor's dtype, shape, sum and first values with the numpy reader's
// (testdata/make_golden.py).
func TestStoriesMatchesNumpy(t *testing.T) {
	t.Parallel()
	var want map[string]struct {
		DType string    `json:"dtype"`
		Shape []int     `json:"shape"`
		Sum   float64   `json:"sum"`
		First []float64 `json:"first"`
	}
	b, err := os.ReadFile("testdata/stories260K.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	f, err := OpenDir(stories)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(f.Names()) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(f.Names()), len(want))
	}
	for name, w := range want {
		info, ok := f.Info(name)
		if !ok {
			t.Fatalf("tensor %q missing", name)
		}
		if string(info.DType) != w.DType || !cmp.Equal(info.Shape, w.Shape) {
			t.Errorf("%s: got %s %v, want %s %v", name, info.DType, info.Shape, w.DType, w.Shape)
		}
		v, shape, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(shape, w.Shape) {
			t.Errorf("%s: Float32 shape %v", name, shape)
		}
		var sum float64
		for _, x := range v {
			sum += float64(x)
		}
		if math.Abs(sum-w.Sum) > 1e-6*math.Max(1, math.Abs(w.Sum)) {
			t.Errorf("%s: sum %v, want %v", name, sum, w.Sum)
		}
		for i, x := range w.First {
			if float64(v[i]) != x {
				t.Errorf("%s[%d] = %v, want %v", name, i, v[i], x)
			}
		}
	}
}

// TestShardedMixedDTypes opens a two-shard BF16/F16 model written by the numpy
// writer and checks the values against float32 rounded by numpy.
func TestShardedMixedDTypes(t *testing.T) {
	t.Parallel()
	f, err := OpenDir("testdata/sharded")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var orig map[string][]float32
	b, _ := os.ReadFile("testdata/sharded/f32.json")
	if err := json.Unmarshal(b, &orig); err != nil {
		t.Fatal(err)
	}
	a, shape, err := f.Float32("a.weight")
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(shape, []int{3, 5}) {
		t.Fatalf("shape %v", shape)
	}
	for i, x := range orig["a.weight"] {
		if want := BF16ToF32(F32ToBF16(x)); a[i] != want {
			t.Errorf("a[%d] = %v, want bf16(%v) = %v", i, a[i], x, want)
		}
	}
	bw, _, err := f.Float32("b.weight")
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range orig["b.weight"] {
		if want := F16ToF32(F32ToF16(x)); bw[i] != want {
			t.Errorf("b[%d] = %v, want f16(%v) = %v", i, bw[i], x, want)
		}
	}
	if _, err := f.Bytes("missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Bytes(missing) = %v, want ErrNotFound", err)
	}
}

func TestWriteRoundTrip(t *testing.T) {
	t.Parallel()
	vals := []float32{1, -2.5, 3.14159, 1e-8, 65504, -0}
	var tensors []Tensor
	for _, dt := range []DType{F32, F16, BF16} {
		data, err := ConvertF32(vals, dt)
		if err != nil {
			t.Fatal(err)
		}
		tensors = append(tensors, Tensor{Name: "t." + string(dt), DType: dt, Shape: []int{2, 3}, Data: data})
	}
	var buf bytes.Buffer
	if err := Write(&buf, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if n := int(buf.Bytes()[0]); (n)%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"format": "pt"}, f.Metadata()); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	for _, dt := range []DType{F32, F16, BF16} {
		got, _, err := f.Float32("t." + string(dt))
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range vals {
			var want float32
			switch dt {
			case F32:
				want = x
			case F16:
				want = F16ToF32(F32ToF16(x))
			case BF16:
				want = BF16ToF32(F32ToBF16(x))
			}
			if got[i] != want {
				t.Errorf("%s[%d] = %v, want %v", dt, i, got[i], want)
			}
		}
	}
}

func TestBF16RoundsToNearestEven(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   uint32
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1.0 exact
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81}, // above tie
		{0x3f807fff, 0x3f80}, // below tie
		{0x7f800000, 0x7f80}, // +Inf
	}
	for _, tt := range tests {
		if got := F32ToBF16(math.Float32frombits(tt.in)); got != tt.want {
			t.Errorf("F32ToBF16(%#x) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
	if nan := BF16ToF32(F32ToBF16(float32(math.NaN()))); !math.IsNaN(float64(nan)) {
		t.Errorf("NaN became %v", nan)
	}
}

func TestBadFiles(t *testing.T) {
	t.Parallel()
	header := func(h string) []byte {
		b := make([]byte, 8, 8+len(h)+16)
		b[0] = byte(len(h))
		return append(append(b, h...), make([]byte, 16)...)
	}
	tests := []struct {
		name, want string
		data       []byte
	}{
		{"short", "too short", []byte{1, 2}},
		{"header too long", "exceeds file size", []byte{255, 255, 0, 0, 0, 0, 0, 0, '{'}},
		{"bad json", "header", header(`{"a":`)},
		{"bad dtype", "unsupported dtype", header(`{"a":{"dtype":"X9","shape":[1],"data_offsets":[0,4]}}`)},
		{"out of range", "outside data", header(`{"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}`)},
		{"size mismatch", "bytes for shape", header(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`)},
		{"negative dim", "bad shape", header(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestOpenDirErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), "no model.safetensors") {
		t.Errorf("empty dir: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), []byte(`{"weight_map":{"x":"../evil.safetensors"}}`), 0o644)
	if _, err := OpenDir(dir); err == nil || !strings.Contains(err.Error(), "not a plain file name") {
		t.Errorf("escaping shard: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	b, err := os.ReadFile("testdata/sharded/model-00001-of-00002.safetensors")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		for _, n := range p.Names() {
			if _, err := p.Bytes(n); err != nil {
				t.Fatal(err)
			}
			p.Float32(n)
		}
	})
}
