package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
)

// Tensor is a tensor to write.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte // little-endian elements
}

// Write writes tensors (sorted by name, as the reference implementation does)
// and optional metadata in safetensors format. The header is padded with
// spaces to a multiple of 8 bytes.
func Write(w io.Writer, tensors []Tensor, meta map[string]string) error {
	sorted := append([]Tensor(nil), tensors...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	for _, t := range sorted {
		if t.DType.Size() == 0 {
			return fmt.Errorf("write tensor %q: unsupported dtype %q", t.Name, t.DType)
		}
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		if len(t.Data) != n*t.DType.Size() {
			return fmt.Errorf("write tensor %q: %d bytes for shape %v of %s", t.Name, len(t.Data), t.Shape, t.DType)
		}
		if _, dup := header[t.Name]; dup {
			return fmt.Errorf("write tensor %q: duplicate name", t.Name)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[t.Name] = headerEntry{DType: t.DType, Shape: shape, DataOffsets: []int64{off, off + int64(len(t.Data))}}
		off += int64(len(t.Data))
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("write safetensors header: %w", err)
	}
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hb)))
	bw.Write(lenBuf[:])
	bw.Write(hb)
	for _, t := range sorted {
		if _, err := bw.Write(t.Data); err != nil {
			return fmt.Errorf("write tensor %q: %w", t.Name, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write safetensors: %w", err)
	}
	return nil
}

// F32Tensor builds an F32 tensor from values.
func F32Tensor(name string, shape []int, v []float32) Tensor {
	return Tensor{Name: name, DType: F32, Shape: shape, Data: F32Bytes(v)}
}

// F32Bytes encodes v as little-endian float32.
func F32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// ConvertF32 encodes v in dtype (F32, F16 or BF16), rounding to nearest even.
func ConvertF32(v []float32, dtype DType) ([]byte, error) {
	switch dtype {
	case F32:
		return F32Bytes(v), nil
	case F16:
		b := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(b[2*i:], F32ToF16(x))
		}
		return b, nil
	case BF16:
		b := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(b[2*i:], F32ToBF16(x))
		}
		return b, nil
	}
	return nil, fmt.Errorf("convert to %s: unsupported dtype", dtype)
}
