// Package safetensors reads and writes the safetensors format used by Hugging
// Face models: an 8-byte little-endian header length, a JSON header mapping
// tensor names to dtype, shape and byte offsets, then the raw little-endian
// data.
//
// Open memory-maps a file, so opening a multi-gigabyte model costs no reads
// until a tensor is used. OpenDir opens a model folder holding either
// model.safetensors or a sharded model.safetensors.index.json.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
)

// DType is a tensor element type as spelled in the header.
type DType string

// The dtypes Whetstone reads and writes.
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
	F64  DType = "F64"
	I64  DType = "I64"
	I32  DType = "I32"
	I8   DType = "I8"
	U8   DType = "U8"
	BOOL DType = "BOOL"
)

// Size returns the byte size of one element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16:
		return 2
	case I8, U8, BOOL:
		return 1
	}
	return 0
}

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are byte offsets into the data section.
	Begin, End int64
}

// Elements returns the number of elements (1 for a scalar).
func (t TensorInfo) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// maxHeader bounds the JSON header (the reference implementation uses 100 MB).
const maxHeader = 100 << 20

// File is an opened safetensors file or a sharded model folder.
type File struct {
	infos   map[string]TensorInfo
	data    map[string][]byte // tensor name -> its data section (whole shard)
	meta    map[string]string
	closers []func() error
}

type headerEntry struct {
	DType       DType   `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// Open memory-maps the safetensors file at path and parses its header.
// Errors name the file and what is wrong with it.
func Open(path string) (*File, error) {
	buf, closer, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("open safetensors %s: %w", path, err)
	}
	f := &File{infos: map[string]TensorInfo{}, data: map[string][]byte{}, closers: []func() error{closer}}
	if err := f.add(buf, path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Parse reads a safetensors file held in memory.
func Parse(buf []byte) (*File, error) {
	f := &File{infos: map[string]TensorInfo{}, data: map[string][]byte{}}
	if err := f.add(buf, "<memory>"); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) add(buf []byte, name string) error {
	if len(buf) < 8 {
		return fmt.Errorf("safetensors %s: file too short (%d bytes)", name, len(buf))
	}
	n := binary.LittleEndian.Uint64(buf)
	if n > maxHeader || n > uint64(len(buf)-8) {
		return fmt.Errorf("safetensors %s: header length %d exceeds file size %d", name, n, len(buf))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(buf[8:8+n], &raw); err != nil {
		return fmt.Errorf("safetensors %s: header: %w", name, err)
	}
	data := buf[8+n:]
	for k, v := range raw {
		if k == "__metadata__" {
			var m map[string]string
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("safetensors %s: __metadata__: %w", name, err)
			}
			if f.meta == nil {
				f.meta = map[string]string{}
			}
			for mk, mv := range m {
				f.meta[mk] = mv
			}
			continue
		}
		var e headerEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("safetensors %s: tensor %q: %w", name, k, err)
		}
		if len(e.DataOffsets) != 2 {
			return fmt.Errorf("safetensors %s: tensor %q: data_offsets must have 2 values", name, k)
		}
		ti := TensorInfo{Name: k, DType: e.DType, Shape: e.Shape, Begin: e.DataOffsets[0], End: e.DataOffsets[1]}
		if ti.DType.Size() == 0 {
			return fmt.Errorf("safetensors %s: tensor %q: unsupported dtype %q", name, k, e.DType)
		}
		elems := int64(1)
		for _, d := range ti.Shape {
			if d < 0 || (d > 0 && elems > math.MaxInt64/int64(d)) {
				return fmt.Errorf("safetensors %s: tensor %q: bad shape %v", name, k, ti.Shape)
			}
			elems *= int64(d)
		}
		if ti.Begin < 0 || ti.End < ti.Begin || ti.End > int64(len(data)) {
			return fmt.Errorf("safetensors %s: tensor %q: offsets [%d,%d] outside data of %d bytes", name, k, ti.Begin, ti.End, len(data))
		}
		if ti.End-ti.Begin != elems*int64(ti.DType.Size()) {
			return fmt.Errorf("safetensors %s: tensor %q: %d bytes for shape %v of %s", name, k, ti.End-ti.Begin, ti.Shape, ti.DType)
		}
		if _, dup := f.infos[k]; dup {
			return fmt.Errorf("safetensors %s: tensor %q appears twice", name, k)
		}
		f.infos[k] = ti
		f.data[k] = data
	}
	return nil
}

// OpenDir opens the weights of a Hugging Face model folder: the shards listed
// in model.safetensors.index.json, else model.safetensors, else the only
// *.safetensors file there.
func OpenDir(dir string) (*File, error) {
	idx := filepath.Join(dir, "model.safetensors.index.json")
	if b, err := os.ReadFile(idx); err == nil {
		var index struct {
			Metadata  map[string]any    `json:"metadata"`
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &index); err != nil {
			return nil, fmt.Errorf("read %s: %w", idx, err)
		}
		shards := map[string]bool{}
		for _, s := range index.WeightMap {
			if filepath.Base(s) != s {
				return nil, fmt.Errorf("read %s: shard name %q is not a plain file name", idx, s)
			}
			shards[s] = true
		}
		names := make([]string, 0, len(shards))
		for s := range shards {
			names = append(names, s)
		}
		sort.Strings(names)
		f := &File{infos: map[string]TensorInfo{}, data: map[string][]byte{}}
		for _, s := range names {
			p := filepath.Join(dir, s)
			buf, closer, err := mapFile(p)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("open shard %s: %w", p, err)
			}
			f.closers = append(f.closers, closer)
			if err := f.add(buf, p); err != nil {
				f.Close()
				return nil, err
			}
		}
		for t, s := range index.WeightMap {
			if _, ok := f.infos[t]; !ok {
				f.Close()
				return nil, fmt.Errorf("read %s: tensor %q is not in shard %s", idx, t, s)
			}
		}
		return f, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", idx, err)
	}
	single := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(single); err == nil {
		return Open(single)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if len(matches) == 1 {
		return Open(matches[0])
	}
	return nil, fmt.Errorf("open model weights in %s: no model.safetensors or model.safetensors.index.json", dir)
}

// Close unmaps the file(s). Safe to call twice.
func (f *File) Close() error {
	var first error
	for _, c := range f.closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	f.closers = nil
	return first
}

// Names returns the tensor names, sorted.
func (f *File) Names() []string {
	out := make([]string, 0, len(f.infos))
	for n := range f.infos {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Info returns the description of tensor name.
func (f *File) Info(name string) (TensorInfo, bool) {
	t, ok := f.infos[name]
	return t, ok
}

// Metadata returns the __metadata__ map (nil when absent).
func (f *File) Metadata() map[string]string { return f.meta }

// ErrNotFound is returned for a tensor name the file does not hold.
var ErrNotFound = errors.New("tensor not found")

// Bytes returns the raw little-endian data of tensor name. The slice aliases
// the mapped file: it must not be modified and is invalid after Close.
func (f *File) Bytes(name string) ([]byte, error) {
	t, ok := f.infos[name]
	if !ok {
		return nil, fmt.Errorf("%q: %w", name, ErrNotFound)
	}
	return f.data[name][t.Begin:t.End], nil
}

// Float32 returns tensor name converted to float32 (from F32, F16, BF16 or
// F64) in a new slice, and its shape.
func (f *File) Float32(name string) ([]float32, []int, error) {
	t, ok := f.infos[name]
	if !ok {
		return nil, nil, fmt.Errorf("%q: %w", name, ErrNotFound)
	}
	b := f.data[name][t.Begin:t.End]
	out := make([]float32, t.Elements())
	switch t.DType {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = F16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = BF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	default:
		return nil, nil, fmt.Errorf("tensor %q: cannot convert %s to float32", name, t.DType)
	}
	return out, append([]int(nil), t.Shape...), nil
}
