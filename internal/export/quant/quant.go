package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/x448/float16"
)

// Type is a ggml tensor type, numbered as in ggml.h (the value stored in a
// GGUF tensor info).
type Type uint32

// The ggml types this package reads and writes.
const (
	F32  Type = 0
	F16  Type = 1
	Q4_0 Type = 2
	Q5_0 Type = 6
	Q8_0 Type = 8
	Q4_K Type = 12
	Q6_K Type = 14
	BF16 Type = 30
)

// QK_K is the super-block size of the K-quants.
const qkK = 256

var typeInfo = map[Type]struct {
	name  string
	block int // values per block
	size  int // bytes per block
}{
	F32:  {"F32", 1, 4},
	F16:  {"F16", 1, 2},
	BF16: {"BF16", 1, 2},
	Q4_0: {"Q4_0", 32, 18},
	Q5_0: {"Q5_0", 32, 22},
	Q8_0: {"Q8_0", 32, 34},
	Q4_K: {"Q4_K", qkK, 144},
	Q6_K: {"Q6_K", qkK, 210},
}

// String returns llama.cpp's name of the type ("Q4_K"), or "type(N)".
func (t Type) String() string {
	if i, ok := typeInfo[t]; ok {
		return i.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Known reports whether this package can encode and decode t.
func (t Type) Known() bool { _, ok := typeInfo[t]; return ok }

// BlockSize returns the number of values in one block of t (1 for float
// types), or 0 for an unknown type.
func (t Type) BlockSize() int { return typeInfo[t].block }

// BlockBytes returns the encoded size of one block of t.
func (t Type) BlockBytes() int { return typeInfo[t].size }

// RowSize returns the encoded size of n values of t. n must be a multiple of
// BlockSize.
func (t Type) RowSize(n int) int {
	i := typeInfo[t]
	if i.block == 0 {
		return 0
	}
	return n / i.block * i.size
}

// Fits reports whether rows of n values can be stored as t.
func (t Type) Fits(n int) bool {
	b := t.BlockSize()
	return b > 0 && n%b == 0
}

// ParseType parses a type name, case-insensitively: "f32", "q4_k", ...
func ParseType(s string) (Type, error) {
	for t, i := range typeInfo {
		if equalFold(i.name, s) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown ggml type %q", s)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Quantize encodes x as t, appending to dst. rowLen is the length of a row
// (the tensor's first ggml dimension); len(x) must be a multiple of it and
// rowLen a multiple of t.BlockSize().
func Quantize(dst []byte, t Type, x []float32, rowLen int) ([]byte, error) {
	if !t.Known() {
		return nil, fmt.Errorf("quantize: unsupported type %v", t)
	}
	if rowLen <= 0 || len(x)%rowLen != 0 {
		return nil, fmt.Errorf("quantize %v: %d values are not whole rows of %d", t, len(x), rowLen)
	}
	if !t.Fits(rowLen) {
		return nil, fmt.Errorf("quantize %v: row length %d is not a multiple of the block size %d", t, rowLen, t.BlockSize())
	}
	n := t.RowSize(len(x))
	start := len(dst)
	dst = grow(dst, n)
	out := dst[start:]
	bs, sz := t.BlockSize(), t.BlockBytes()
	var enc func([]byte, []float32)
	switch t {
	case F32:
		enc = func(o []byte, x []float32) { binary.LittleEndian.PutUint32(o, math.Float32bits(x[0])) }
	case F16:
		enc = func(o []byte, x []float32) { binary.LittleEndian.PutUint16(o, float16.Fromfloat32(x[0]).Bits()) }
	case BF16:
		enc = func(o []byte, x []float32) { binary.LittleEndian.PutUint16(o, bf16(x[0])) }
	default:
		enc = map[Type]func([]byte, []float32){Q8_0: blockQ8_0, Q4_0: blockQ4_0, Q5_0: blockQ5_0, Q4_K: blockQ4K, Q6_K: blockQ6K}[t]
	}
	// Blocks are independent: large tensors are split across the CPUs.
	nb := len(x) / bs
	workers := min(runtime.GOMAXPROCS(0), max(1, len(x)/(1<<16)))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := nb*w/workers, nb*(w+1)/workers
		wg.Go(func() {
			for b := lo; b < hi; b++ {
				enc(out[b*sz:(b+1)*sz], x[b*bs:(b+1)*bs])
			}
		})
	}
	wg.Wait()
	return dst, nil
}

// Dequantize decodes n values of type t from data, appending to dst.
func Dequantize(dst []float32, t Type, data []byte, n int) ([]float32, error) {
	if !t.Known() {
		return nil, fmt.Errorf("dequantize: unsupported type %v", t)
	}
	if !t.Fits(n) {
		return nil, fmt.Errorf("dequantize %v: %d values are not whole blocks", t, n)
	}
	if len(data) < t.RowSize(n) {
		return nil, fmt.Errorf("dequantize %v: %d bytes, want %d", t, len(data), t.RowSize(n))
	}
	start := len(dst)
	if cap(dst)-start < n {
		nd := make([]float32, start, start+n)
		copy(nd, dst)
		dst = nd
	}
	dst = dst[:start+n]
	y := dst[start:]
	bs, sz := t.BlockSize(), t.BlockBytes()
	switch t {
	case F32:
		for i := range y {
			y[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
	case F16:
		for i := range y {
			y[i] = f16(data[2*i:])
		}
	case BF16:
		for i := range y {
			y[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(data[2*i:])) << 16)
		}
	default:
		dec := map[Type]func([]float32, []byte){Q8_0: deqQ8_0, Q4_0: deqQ4_0, Q5_0: deqQ5_0, Q4_K: deqQ4K, Q6_K: deqQ6K}[t]
		for b := 0; b < n/bs; b++ {
			dec(y[b*bs:(b+1)*bs], data[b*sz:(b+1)*sz])
		}
	}
	return dst, nil
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	b = b[:len(b)+n]
	clear(b[len(b)-n:])
	return b
}

// bf16 rounds to nearest even, keeping NaNs quiet.
func bf16(v float32) uint16 {
	u := math.Float32bits(v)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// F16Bits returns the IEEE half-precision encoding of v, rounded to nearest
// even.
func F16Bits(v float32) uint16 { return float16.Fromfloat32(v).Bits() }

func putF16(b []byte, v float32) { binary.LittleEndian.PutUint16(b, float16.Fromfloat32(v).Bits()) }

func f16(b []byte) float32 { return float16.Frombits(binary.LittleEndian.Uint16(b)).Float32() }

// roundF16 is v as stored in an f16 field and read back.
func roundF16(v float32) float32 { return float16.Fromfloat32(v).Float32() }

// nearestInt rounds half to even, as ggml's nearest_int does.
func nearestInt(v float32) int { return int(math.RoundToEven(float64(v))) }
