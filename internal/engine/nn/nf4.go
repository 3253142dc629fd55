package nn

import (
	"fmt"
	"math"
	"sync"
)

// NF4Codebook is the 4-bit NormalFloat codebook of QLoRA (Dettmers et al.
// 2023), exactly as bitsandbytes defines it (functional.py get_4bit_type
// "nf4", kernels.cu dDequantizeNF4): code i decodes to NF4Codebook[i]·absmax.
var NF4Codebook = [16]float32{
	-1.0,
	-0.6961928009986877,
	-0.5250730514526367,
	-0.39491748809814453,
	-0.28444138169288635,
	-0.18477343022823334,
	-0.09105003625154495,
	0.0,
	0.07958029955625534,
	0.16093020141124725,
	0.24611230194568634,
	0.33791524171829224,
	0.44070982933044434,
	0.5626170039176941,
	0.7229568362236023,
	1.0,
}

// NF4BlockSize is the number of consecutive weights sharing one absmax scale
// (bitsandbytes' default blocksize for 4-bit quantization).
const NF4BlockSize = 64

// NF4TileElems bounds the dequantized tile of an NF4 product: a weight of
// more elements is dequantized in runs of whole rows of at most this many
// elements (4 MiB of float32).
const NF4TileElems = 1 << 20

// nf4Mid are the decision thresholds between neighbouring codes (midpoints),
// as in bitsandbytes' dQuantizeNF4: a value equal to a threshold takes the
// lower code.
var nf4Mid = func() [15]float32 {
	var t [15]float32
	for i := range t {
		t[i] = (NF4Codebook[i] + NF4Codebook[i+1]) / 2
	}
	return t
}()

// NF4 is a frozen weight [Out, In] (row-major, flattened) in 4-bit
// NormalFloat: blocks of NF4BlockSize consecutive values, each stored as the
// nearest codebook entry of value/absmax, with the block's absmax kept in
// float32 (no double quantization): 4.5 bits per weight.
type NF4 struct {
	Out, In int
	// Codes packs two 4-bit codes per byte, the first element of each pair
	// in the high nibble (bitsandbytes' layout).
	Codes []byte
	// Absmax [ceil(Out·In / NF4BlockSize)] are the per-block scales.
	Absmax []float32
}

// NF4Bytes is the resident size of an [out, in] NF4 weight.
func NF4Bytes(out, in int) int64 {
	n := int64(out) * int64(in)
	return (n+1)/2 + 4*((n+NF4BlockSize-1)/NF4BlockSize)
}

// NF4Code returns the code of x (a value already divided by its block's
// absmax): the nearest codebook entry.
func NF4Code(x float32) byte {
	// Binary search over the 15 thresholds: code = #thresholds below x.
	lo, hi := 0, 15
	for lo < hi {
		mid := (lo + hi) / 2
		if x > nf4Mid[mid] {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return byte(lo)
}

// QuantizeNF4 quantizes w [out·in] to NF4. Non-finite weights are an error.
func QuantizeNF4(w []float32, out, in int) (*NF4, error) {
	n := out * in
	if len(w) != n {
		return nil, fmt.Errorf("nf4: %d weights for shape [%d %d]", len(w), out, in)
	}
	q := &NF4{Out: out, In: in, Codes: make([]byte, (n+1)/2), Absmax: make([]float32, (n+NF4BlockSize-1)/NF4BlockSize)}
	var bad error
	var mu sync.Mutex
	parallelRows(len(q.Absmax), 64, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			s, e := b*NF4BlockSize, min((b+1)*NF4BlockSize, n)
			var amax float32
			for i, v := range w[s:e] {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					mu.Lock()
					bad = fmt.Errorf("nf4: non-finite weight %g at element %d", v, s+i)
					mu.Unlock()
					return
				}
				amax = max(amax, float32(math.Abs(float64(v))))
			}
			q.Absmax[b] = amax
			inv := float32(0)
			if amax > 0 {
				inv = 1 / amax
			}
			for i := s; i < e; i++ {
				c := NF4Code(w[i] * inv)
				if i%2 == 0 {
					q.Codes[i/2] = c << 4
				} else {
					q.Codes[i/2] |= c
				}
			}
		}
	})
	if bad != nil {
		return nil, bad
	}
	return q, nil
}

// Dequantize writes elements [lo, hi) of the flattened weight to dst[:hi-lo].
func (q *NF4) Dequantize(dst []float32, lo, hi int) {
	q.dequantize(lo, hi, func(i int, v float32) { dst[i-lo] = v }, func(j int, lut *[16]float32, codes []byte) {
		d := dst[j-lo : j-lo+2*len(codes)]
		for k, c := range codes {
			d[2*k] = lut[c>>4]
			d[2*k+1] = lut[c&15]
		}
	})
}

// DequantizeBF16 is Dequantize rounding each value to bfloat16 bits (round to
// nearest even, as blas.F32ToBF16).
func (q *NF4) DequantizeBF16(dst []uint16, lo, hi int) {
	q.dequantize(lo, hi, func(i int, v float32) { dst[i-lo] = bf16Bits(v) }, func(j int, lut *[16]float32, codes []byte) {
		var lb [16]uint16
		for k, v := range lut {
			lb[k] = bf16Bits(v)
		}
		d := dst[j-lo : j-lo+2*len(codes)]
		for k, c := range codes {
			d[2*k] = lb[c>>4]
			d[2*k+1] = lb[c&15]
		}
	})
}

func bf16Bits(v float32) uint16 {
	bits := math.Float32bits(v)
	return uint16((bits + 0x7fff + (bits>>16)&1) >> 16)
}

// dequantize splits [lo, hi) across cores by blocks. Whole code pairs
// starting at an even element j go to pairs(j, lut, codes) with the block's
// scaled codebook lut; single elements (odd ends) go to one(i, value).
func (q *NF4) dequantize(lo, hi int, one func(i int, v float32), pairs func(j int, lut *[16]float32, codes []byte)) {
	if lo >= hi {
		return
	}
	b0, b1 := lo/NF4BlockSize, (hi-1)/NF4BlockSize+1
	parallelRows(b1-b0, 64, func(x, y int) {
		var lut [16]float32
		for b := b0 + x; b < b0+y; b++ {
			s := q.Absmax[b]
			for k, c := range NF4Codebook {
				lut[k] = c * s
			}
			i, e := max(b*NF4BlockSize, lo), min((b+1)*NF4BlockSize, hi)
			if i%2 == 1 {
				one(i, lut[q.Codes[i/2]&15])
				i++
			}
			np := (e - i) / 2
			if np > 0 {
				pairs(i, &lut, q.Codes[i/2:i/2+np])
				i += 2 * np
			}
			if i < e {
				one(i, lut[q.Codes[i/2]>>4])
			}
		}
	})
}

// Float32 returns the whole dequantized weight.
func (q *NF4) Float32() []float32 {
	d := make([]float32, q.Out*q.In)
	q.Dequantize(d, 0, len(d))
	return d
}

var (
	nf4Tile   = sync.Pool{New: func() any { return new([]float32) }}
	nf4TileBF = sync.Pool{New: func() any { return new([]uint16) }}
)

// nf4Rows is how many whole rows of q one tile holds.
func (q *NF4) tileRows() int { return max(1, min(q.Out, NF4TileElems/max(q.In, 1))) }

// forTiles dequantizes q a tile of whole rows at a time into a pooled buffer
// (float32, or bfloat16 bits when bf16 is set) and calls fn(r0, r1, w, wbf)
// with the tile of rows [r0, r1).
func (q *NF4) forTiles(bf16 bool, fn func(r0, r1 int, w []float32, wbf []uint16)) {
	rows := q.tileRows()
	if bf16 {
		p := nf4TileBF.Get().(*[]uint16)
		defer nf4TileBF.Put(p)
		if cap(*p) < rows*q.In {
			*p = make([]uint16, rows*q.In)
		}
		for r0 := 0; r0 < q.Out; r0 += rows {
			r1 := min(r0+rows, q.Out)
			t := (*p)[:(r1-r0)*q.In]
			q.DequantizeBF16(t, r0*q.In, r1*q.In)
			fn(r0, r1, nil, t)
		}
		return
	}
	p := nf4Tile.Get().(*[]float32)
	defer nf4Tile.Put(p)
	if cap(*p) < rows*q.In {
		*p = make([]float32, rows*q.In)
	}
	for r0 := 0; r0 < q.Out; r0 += rows {
		r1 := min(r0+rows, q.Out)
		t := (*p)[:(r1-r0)*q.In]
		q.Dequantize(t, r0*q.In, r1*q.In)
		fn(r0, r1, t, nil)
	}
}

// LinearNF4 computes y = x·Wᵀ (+ bias) for x [n, In], the NF4 weight q
// [Out, In] and y [n, Out], dequantizing W tile by tile into a reused buffer
// (bfloat16 products with float32 sums when bf16 is set).
func LinearNF4(y, x []float32, q *NF4, bf16 bool, bias []float32, n int) {
	if n == 0 {
		return
	}
	q.forTiles(bf16, func(r0, r1 int, w []float32, wbf []uint16) {
		sgemmW(false, true, n, r1-r0, q.In, 1, x, q.In, w, wbf, q.In, 0, y[r0:], q.Out)
	})
	if bias != nil {
		AddBias(y, bias, n, q.Out)
	}
}

// LinearBackwardNF4 computes dx (+)= dy·W for the frozen NF4 weight q
// (no weight gradient): dy [n, Out], dx [n, In]. If accumulate is false dx is
// overwritten.
func LinearBackwardNF4(dx, dy []float32, q *NF4, bf16 bool, n int, accumulate bool) {
	if n == 0 {
		return
	}
	first := true
	q.forTiles(bf16, func(r0, r1 int, w []float32, wbf []uint16) {
		beta := float32(1)
		if first && !accumulate {
			beta = 0
		}
		first = false
		sgemmW(false, false, n, q.In, r1-r0, 1, dy[r0:], q.Out, w, wbf, q.In, beta, dx, q.In)
	})
}
