package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/whetstone/whetstone/internal/export/quant"
)

// File is an opened GGUF file: its metadata and tensor directory, with tensor
// data read on demand.
type File struct {
	Version uint32
	// KV is the metadata in file order.
	KV      []KV
	Tensors []TensorInfo
	// DataOffset is where the data section starts.
	DataOffset int64

	kv      map[string]any
	tensors map[string]int
	r       io.ReaderAt
	size    int64
	closer  io.Closer
}

// Open reads the header of the GGUF file at path. Close the File when done.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	g, err := Read(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	g.closer = f
	return g, nil
}

// Close closes the underlying file (a no-op for Read on a ReaderAt).
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	return f.closer.Close()
}

// ErrFormat is wrapped by errors about malformed files.
var ErrFormat = errors.New("malformed gguf")

// Read parses the header of a GGUF file of the given size.
func Read(r io.ReaderAt, size int64) (*File, error) {
	d := &decoder{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), left: size}
	magic := d.bytes(4)
	if d.err != nil || string(magic) != Magic {
		return nil, fmt.Errorf("%w: not a GGUF file (magic %q)", ErrFormat, magic)
	}
	f := &File{r: r, size: size, kv: map[string]any{}, tensors: map[string]int{}}
	f.Version = d.u32()
	if f.Version != 2 && f.Version != 3 {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrFormat, f.Version)
	}
	nt, nkv := d.u64(), d.u64()
	if d.err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrFormat, d.err)
	}
	// Every entry takes at least 8 bytes, which bounds the counts.
	if nkv > uint64(size)/8 || nt > uint64(size)/8 {
		return nil, fmt.Errorf("%w: %d metadata entries and %d tensors cannot fit in %d bytes", ErrFormat, nkv, nt, size)
	}
	for i := uint64(0); i < nkv; i++ {
		key := d.str()
		t := ValueType(d.u32())
		v := d.value(t)
		if d.err != nil {
			return nil, fmt.Errorf("%w: metadata entry %d (%q): %v", ErrFormat, i, key, d.err)
		}
		if _, dup := f.kv[key]; dup {
			return nil, fmt.Errorf("%w: duplicate metadata key %q", ErrFormat, key)
		}
		f.kv[key] = v
		f.KV = append(f.KV, KV{Key: key, Value: v})
	}
	align := uint64(Alignment)
	if v, ok := f.kv["general.alignment"]; ok {
		a, ok := Uint(v)
		if !ok || a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("%w: general.alignment %v is not a power of two", ErrFormat, v)
		}
		align = a
	}
	for i := uint64(0); i < nt; i++ {
		var t TensorInfo
		t.Name = d.str()
		nd := d.u32()
		if d.err == nil && (nd == 0 || nd > 4) {
			d.err = fmt.Errorf("%d dimensions", nd)
		}
		for j := uint32(0); j < nd && d.err == nil; j++ {
			t.Shape = append(t.Shape, d.u64())
		}
		t.Type = quant.Type(d.u32())
		t.Offset = d.u64()
		if d.err != nil {
			return nil, fmt.Errorf("%w: tensor info %d (%q): %v", ErrFormat, i, t.Name, d.err)
		}
		if _, dup := f.tensors[t.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate tensor %q", ErrFormat, t.Name)
		}
		f.tensors[t.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, t)
	}
	pos := uint64(size - d.left)
	f.DataOffset = int64((pos + align - 1) / align * align)
	for _, t := range f.Tensors {
		if !t.Type.Known() {
			continue // unknown types can be listed but not read
		}
		for _, s := range t.Shape {
			if s == 0 || s > 1<<40 {
				return nil, fmt.Errorf("%w: tensor %q has dimension %d", ErrFormat, t.Name, s)
			}
		}
		if !t.Type.Fits(int(t.Shape[0])) {
			return nil, fmt.Errorf("%w: tensor %q: rows of %d do not fit %v blocks", ErrFormat, t.Name, t.Shape[0], t.Type)
		}
		if t.Offset%align != 0 || uint64(f.DataOffset)+t.Offset+t.Size() > uint64(size) {
			return nil, fmt.Errorf("%w: tensor %q: data at %d (+%d bytes) is misaligned or past the end of the file (%d bytes)",
				ErrFormat, t.Name, t.Offset, t.Size(), size)
		}
	}
	return f, nil
}

// Get returns the metadata value of key.
func (f *File) Get(key string) (any, bool) { v, ok := f.kv[key]; return v, ok }

// String returns the string metadata value of key.
func (f *File) String(key string) (string, bool) { s, ok := f.kv[key].(string); return s, ok }

// Uint returns an integer metadata value of key.
func (f *File) Uint(key string) (uint64, bool) { return Uint(f.kv[key]) }

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tensors[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// Raw returns the encoded bytes of the named tensor.
func (f *File) Raw(name string) ([]byte, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gguf: no tensor %q", name)
	}
	if !t.Type.Known() {
		return nil, fmt.Errorf("gguf: tensor %q has unsupported type %v", name, t.Type)
	}
	b := make([]byte, t.Size())
	if _, err := f.r.ReadAt(b, f.DataOffset+int64(t.Offset)); err != nil {
		return nil, fmt.Errorf("gguf: read tensor %q: %w", name, err)
	}
	return b, nil
}

// Float32 returns the named tensor decoded to float32, in ggml order (rows of
// Shape[0] values).
func (f *File) Float32(name string) ([]float32, TensorInfo, error) {
	b, err := f.Raw(name)
	if err != nil {
		return nil, TensorInfo{}, err
	}
	t, _ := f.Tensor(name)
	x, err := quant.Dequantize(nil, t.Type, b, int(t.Elements()))
	if err != nil {
		return nil, t, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	return x, t, nil
}

type decoder struct {
	r    *bufio.Reader
	left int64
	err  error
	buf  [8]byte
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(d.left) {
		d.err = fmt.Errorf("length %d runs past the end of the file", n)
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.err = err
		return nil
	}
	d.left -= int64(n)
	return b
}

func (d *decoder) fixed(n int) []byte {
	if d.err != nil {
		return d.buf[:n]
	}
	if int64(n) > d.left {
		d.err = io.ErrUnexpectedEOF
		return d.buf[:n]
	}
	if _, err := io.ReadFull(d.r, d.buf[:n]); err != nil {
		d.err = err
	}
	d.left -= int64(n)
	return d.buf[:n]
}

func (d *decoder) u8() uint8   { return d.fixed(1)[0] }
func (d *decoder) u16() uint16 { return binary.LittleEndian.Uint16(d.fixed(2)) }
func (d *decoder) u32() uint32 { return binary.LittleEndian.Uint32(d.fixed(4)) }
func (d *decoder) u64() uint64 { return binary.LittleEndian.Uint64(d.fixed(8)) }
func (d *decoder) str() string { return string(d.bytes(d.u64())) }

func (d *decoder) value(t ValueType) any {
	switch t {
	case TypeUint8:
		return d.u8()
	case TypeInt8:
		return int8(d.u8())
	case TypeUint16:
		return d.u16()
	case TypeInt16:
		return int16(d.u16())
	case TypeUint32:
		return d.u32()
	case TypeInt32:
		return int32(d.u32())
	case TypeFloat32:
		return math.Float32frombits(d.u32())
	case TypeBool:
		b := d.u8()
		if b > 1 && d.err == nil {
			d.err = fmt.Errorf("bool value %d", b)
		}
		return b == 1
	case TypeString:
		return d.str()
	case TypeUint64:
		return d.u64()
	case TypeInt64:
		return int64(d.u64())
	case TypeFloat64:
		return math.Float64frombits(d.u64())
	case TypeArray:
		et := ValueType(d.u32())
		n := d.u64()
		if d.err != nil {
			return nil
		}
		if n > uint64(d.left) {
			d.err = fmt.Errorf("array of %d items runs past the end of the file", n)
			return nil
		}
		return d.array(et, int(n))
	}
	if d.err == nil {
		d.err = fmt.Errorf("unknown value type %d", t)
	}
	return nil
}

func array[T any](d *decoder, n int, get func() T) []T {
	a := make([]T, 0, min(n, 1<<20))
	for i := 0; i < n && d.err == nil; i++ {
		a = append(a, get())
	}
	return a
}

func (d *decoder) array(et ValueType, n int) any {
	switch et {
	case TypeUint8:
		return d.bytes(uint64(n))
	case TypeInt8:
		return array(d, n, func() int8 { return int8(d.u8()) })
	case TypeUint16:
		return array(d, n, d.u16)
	case TypeInt16:
		return array(d, n, func() int16 { return int16(d.u16()) })
	case TypeUint32:
		return array(d, n, d.u32)
	case TypeInt32:
		return array(d, n, func() int32 { return int32(d.u32()) })
	case TypeFloat32:
		return array(d, n, func() float32 { return math.Float32frombits(d.u32()) })
	case TypeBool:
		return array(d, n, func() bool { return d.u8() != 0 })
	case TypeString:
		return array(d, n, d.str)
	case TypeUint64:
		return array(d, n, d.u64)
	case TypeInt64:
		return array(d, n, func() int64 { return int64(d.u64()) })
	case TypeFloat64:
		return array(d, n, func() float64 { return math.Float64frombits(d.u64()) })
	}
	d.err = fmt.Errorf("unsupported array element type %d", et)
	return nil
}
