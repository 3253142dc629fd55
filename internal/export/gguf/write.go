package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/whetstone/whetstone/internal/export/quant"
)

// Tensor is a tensor to write. Data must write exactly Info().Size() bytes;
// it is called once, in order, so a converter can produce (and free) one
// tensor at a time.
type Tensor struct {
	Name  string
	Type  quant.Type
	Shape []uint64 // ggml order, row length first
	Data  func(w io.Writer) error
}

// Bytes returns a Data callback writing b.
func Bytes(b []byte) func(io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(b); return err }
}

// Write writes a GGUF v3 file with the metadata (in order) and tensors.
// Tensor names must be unique and shapes must be whole rows of their type.
func Write(w io.Writer, kvs []KV, tensors []Tensor) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &countWriter{w: bw}
	e := &encoder{w: cw}
	e.raw([]byte(Magic))
	e.u32(Version)
	e.u64(uint64(len(tensors)))
	e.u64(uint64(len(kvs)))
	seen := make(map[string]bool, len(kvs))
	for _, kv := range kvs {
		if seen[kv.Key] {
			return fmt.Errorf("write gguf: duplicate metadata key %q", kv.Key)
		}
		seen[kv.Key] = true
		if err := e.kv(kv); err != nil {
			return fmt.Errorf("write gguf: metadata %q: %w", kv.Key, err)
		}
	}
	var off uint64
	sizes := make([]uint64, len(tensors))
	names := make(map[string]bool, len(tensors))
	for i, t := range tensors {
		if names[t.Name] {
			return fmt.Errorf("write gguf: duplicate tensor %q", t.Name)
		}
		names[t.Name] = true
		info := TensorInfo{Name: t.Name, Type: t.Type, Shape: t.Shape}
		if len(t.Shape) == 0 || len(t.Shape) > 4 || !t.Type.Known() || !t.Type.Fits(int(t.Shape[0])) {
			return fmt.Errorf("write gguf: tensor %q: type %v cannot hold shape %v", t.Name, t.Type, t.Shape)
		}
		sizes[i] = info.Size()
		e.str(t.Name)
		e.u32(uint32(len(t.Shape)))
		for _, d := range t.Shape {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		e.u64(off)
		off += pad(sizes[i])
	}
	if e.err != nil {
		return fmt.Errorf("write gguf header: %w", e.err)
	}
	e.raw(make([]byte, pad(uint64(cw.n))-uint64(cw.n)))
	if e.err != nil {
		return fmt.Errorf("write gguf header: %w", e.err)
	}
	zeros := make([]byte, Alignment)
	for i, t := range tensors {
		start := cw.n
		if err := t.Data(cw); err != nil {
			return fmt.Errorf("write gguf tensor %q: %w", t.Name, err)
		}
		if got := uint64(cw.n - start); got != sizes[i] {
			return fmt.Errorf("write gguf tensor %q: wrote %d bytes, want %d for %v %v", t.Name, got, sizes[i], t.Type, t.Shape)
		}
		if _, err := cw.Write(zeros[:pad(sizes[i])-sizes[i]]); err != nil {
			return fmt.Errorf("write gguf tensor %q: %w", t.Name, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write gguf: %w", err)
	}
	return nil
}

func pad(n uint64) uint64 { return (n + Alignment - 1) / Alignment * Alignment }

type encoder struct {
	w   io.Writer
	err error
	buf [8]byte
}

func (e *encoder) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.buf[:], v); e.raw(e.buf[:4]) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.buf[:], v); e.raw(e.buf[:8]) }
func (e *encoder) str(s string) { e.u64(uint64(len(s))); e.raw([]byte(s)) }

func (e *encoder) kv(kv KV) error {
	t, et, err := valueType(kv.Value)
	if err != nil {
		return err
	}
	e.str(kv.Key)
	e.u32(uint32(t))
	if t != TypeArray {
		e.scalar(kv.Value)
		return nil
	}
	e.u32(uint32(et))
	switch a := kv.Value.(type) {
	case []uint8:
		e.u64(uint64(len(a)))
		e.raw(a)
	case []string:
		e.u64(uint64(len(a)))
		for _, s := range a {
			e.str(s)
		}
	default:
		n := arrayLen(kv.Value)
		e.u64(uint64(n))
		for i := 0; i < n; i++ {
			e.scalar(arrayAt(kv.Value, i))
		}
	}
	return nil
}

func (e *encoder) scalar(v any) {
	b := e.buf[:]
	switch x := v.(type) {
	case uint8:
		e.raw([]byte{x})
	case int8:
		e.raw([]byte{byte(x)})
	case bool:
		if x {
			e.raw([]byte{1})
		} else {
			e.raw([]byte{0})
		}
	case uint16:
		binary.LittleEndian.PutUint16(b, x)
		e.raw(b[:2])
	case int16:
		binary.LittleEndian.PutUint16(b, uint16(x))
		e.raw(b[:2])
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case string:
		e.str(x)
	}
}

func arrayLen(v any) int {
	switch a := v.(type) {
	case []int8:
		return len(a)
	case []uint16:
		return len(a)
	case []int16:
		return len(a)
	case []uint32:
		return len(a)
	case []int32:
		return len(a)
	case []float32:
		return len(a)
	case []bool:
		return len(a)
	case []uint64:
		return len(a)
	case []int64:
		return len(a)
	case []float64:
		return len(a)
	}
	return 0
}

func arrayAt(v any, i int) any {
	switch a := v.(type) {
	case []int8:
		return a[i]
	case []uint16:
		return a[i]
	case []int16:
		return a[i]
	case []uint32:
		return a[i]
	case []int32:
		return a[i]
	case []float32:
		return a[i]
	case []bool:
		return a[i]
	case []uint64:
		return a[i]
	case []int64:
		return a[i]
	case []float64:
		return a[i]
	}
	return nil
}
