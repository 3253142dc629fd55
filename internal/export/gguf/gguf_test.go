package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/whetstone/whetstone/internal/export/quant"
)

func sample(t testing.TB) ([]KV, []Tensor, map[string][]float32) {
	t.Helper()
	kvs := []KV{
		{"general.architecture", "llama"},
		{"u8", uint8(7)}, {"i8", int8(-7)}, {"u16", uint16(700)}, {"i16", int16(-700)},
		{"u32", uint32(70000)}, {"i32", int32(-70000)}, {"f32", float32(1.5)}, {"bool", true},
		{"u64", uint64(1 << 40)}, {"i64", int64(-1 << 40)}, {"f64", 2.25},
		{"strs", []string{"<s>", "▁a", ""}}, {"f32s", []float32{0.5, -1}}, {"i32s", []int32{1, 3, 6}},
		{"u8s", []uint8{1, 2}}, {"bools", []bool{true, false}},
	}
	vals := map[string][]float32{}
	var tensors []Tensor
	for i, typ := range []quant.Type{quant.F32, quant.F16, quant.Q8_0, quant.Q4_K} {
		shape := []uint64{256, uint64(i + 1)}
		x := make([]float32, 256*(i+1))
		for j := range x {
			x[j] = float32(math.Sin(float64(j*(i+3)))) * 0.1
		}
		b, err := quant.Quantize(nil, typ, x, 256)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := quant.Dequantize(nil, typ, b, len(x))
		name := "t." + typ.String()
		vals[name] = want
		tensors = append(tensors, Tensor{Name: name, Type: typ, Shape: shape, Data: Bytes(b)})
	}
	// an odd-sized tensor so the next one needs padding
	tensors = append(tensors, Tensor{Name: "odd", Type: quant.F32, Shape: []uint64{3}, Data: Bytes(make([]byte, 12))})
	vals["odd"] = []float32{0, 0, 0}
	return kvs, tensors, vals
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	kvs, tensors, vals := sample(t)
	var buf bytes.Buffer
	if err := Write(&buf, kvs, tensors); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if string(b[:4]) != "GGUF" || binary.LittleEndian.Uint32(b[4:]) != 3 {
		t.Fatalf("header % x", b[:8])
	}
	f, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(kvs, f.KV); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if f.DataOffset%Alignment != 0 {
		t.Errorf("data offset %d not aligned", f.DataOffset)
	}
	for _, tt := range tensors {
		info, ok := f.Tensor(tt.Name)
		if !ok {
			t.Fatalf("no tensor %q", tt.Name)
		}
		if info.Offset%Alignment != 0 || info.Type != tt.Type || !cmp.Equal(info.Shape, tt.Shape) {
			t.Errorf("%s: info %+v", tt.Name, info)
		}
		got, _, err := f.Float32(tt.Name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(vals[tt.Name], got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.Name, diff)
		}
	}
	if s, _ := f.String("general.architecture"); s != "llama" {
		t.Errorf("architecture %q", s)
	}
}

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		kvs     []KV
		tensors []Tensor
	}{
		{"duplicate key", []KV{{"a", uint32(1)}, {"a", uint32(2)}}, nil},
		{"bad value", []KV{{"a", map[string]int{}}}, nil},
		{"short data", nil, []Tensor{{Name: "x", Type: quant.F32, Shape: []uint64{4}, Data: Bytes(make([]byte, 12))}}},
		{"bad shape", nil, []Tensor{{Name: "x", Type: quant.Q8_0, Shape: []uint64{30}, Data: Bytes(nil)}}},
		{"duplicate tensor", nil, []Tensor{
			{Name: "x", Type: quant.F32, Shape: []uint64{1}, Data: Bytes(make([]byte, 4))},
			{Name: "x", Type: quant.F32, Shape: []uint64{1}, Data: Bytes(make([]byte, 4))}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := Write(&bytes.Buffer{}, tt.kvs, tt.tensors); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestTruncated reads every prefix of a valid file: each must fail cleanly.
func TestTruncated(t *testing.T) {
	t.Parallel()
	kvs, tensors, _ := sample(t)
	var buf bytes.Buffer
	if err := Write(&buf, kvs, tensors); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for n := 0; n < len(b)-12; n += 1 + n/64 {
		if _, err := Read(bytes.NewReader(b[:n]), int64(n)); err == nil {
			t.Fatalf("prefix of %d/%d bytes read without error", n, len(b))
		} else if !errors.Is(err, ErrFormat) {
			t.Fatalf("prefix %d: error %v does not wrap ErrFormat", n, err)
		}
	}
	// a huge string length must not allocate
	bad := append([]byte(nil), b...)
	binary.LittleEndian.PutUint64(bad[24:], 1<<62)
	if _, err := Read(bytes.NewReader(bad), int64(len(bad))); err == nil {
		t.Error("huge key length accepted")
	}
}

func FuzzRead(f *testing.F) {
	kvs, tensors, _ := sample(f)
	var buf bytes.Buffer
	if err := Write(&buf, kvs, tensors); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, ti := range g.Tensors {
			g.Float32(ti.Name) //nolint:errcheck // must not panic
		}
	})
}
