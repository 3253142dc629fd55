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
// nearest codebook entry of value/absmax. The block's absmax is kept in
// float32 (4.5 bits per weight) or, after DoubleQuantize, in 8 bits
// (4.127 bits per weight).
type NF4 struct {
	Out, In int
	// Codes packs two 4-bit codes per byte, the first element of each pair
	// in the high nibble (bitsandbytes' layout).
	Codes []byte
	// Absmax [ceil(Out·In / NF4BlockSize)] are the per-block scales; nil
	// once double-quantized.
	Absmax []float32
	// Double quantization (bitsandbytes' compress_statistics): absmax[b] =
	// DynamicMap8[AbsmaxQ[b]]·Absmax2[b/DQBlockSize] + Offset.
	AbsmaxQ []byte
	Absmax2 []float32
	Offset  float32
}

// DQBlockSize is the number of absmax scales sharing one second-level scale
// under double quantization (bitsandbytes: 256).
const DQBlockSize = 256

// DynamicMap8 is bitsandbytes' default 8-bit blockwise code,
// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8), as
// float32 (generated with that function's code under PyTorch; 256 sorted
// values, -0.99296875 … 1). Double quantization stores the absmax scales in it.
var DynamicMap8 = [256]float32{
	-0.992968738079071, -0.9789062142372131, -0.96484375, -0.9507812261581421,
	-0.9367187023162842, -0.922656238079071, -0.9085937738418579, -0.89453125,
	-0.8804687261581421, -0.8664062023162842, -0.852343738079071, -0.8382812142372131,
	-0.82421875, -0.8101562261581421, -0.7960937023162842, -0.782031238079071,
	-0.7679687738418579, -0.75390625, -0.7398437857627869, -0.725781261920929,
	-0.7117187976837158, -0.6976562738418579, -0.68359375, -0.6695312857627869,
	-0.655468761920929, -0.641406238079071, -0.6273437738418579, -0.61328125,
	-0.5992187261581421, -0.585156261920929, -0.5710937976837158, -0.5570312738418579,
	-0.54296875, -0.5289062261581421, -0.514843761920929, -0.500781238079071,
	-0.4867187738418579, -0.47265625, -0.4585937261581421, -0.44453126192092896,
	-0.43046873807907104, -0.41640621423721313, -0.40234375, -0.3882812261581421,
	-0.37421876192092896, -0.36015623807907104, -0.34609371423721313, -0.33203125,
	-0.3179687261581421, -0.30390626192092896, -0.28984373807907104, -0.2757812738418579,
	-0.26171875, -0.24765625596046448, -0.23359376192092896, -0.21953125298023224,
	-0.20546874403953552, -0.19140625, -0.17734374105930328, -0.16328124701976776,
	-0.14921875298023224, -0.13515624403953552, -0.12109375, -0.10703125596046448,
	-0.09859374910593033, -0.09578124433755875, -0.09296875447034836, -0.09015624970197678,
	-0.08734375238418579, -0.08453124761581421, -0.08171874284744263, -0.07890625298023224,
	-0.07609374821186066, -0.07328125089406967, -0.07046874612569809, -0.0676562562584877,
	-0.06484375149011612, -0.06203124672174454, -0.05921875312924385, -0.05640624836087227,
	-0.053593751043081284, -0.05078125, -0.047968748956918716, -0.04515625163912773,
	-0.04234374687075615, -0.039531249552965164, -0.03671875223517418, -0.0339062474668026,
	-0.031093750149011612, -0.02828124724328518, -0.025468749925494194, -0.02265625074505806,
	-0.019843749701976776, -0.017031250521540642, -0.014218750409781933, -0.011406250298023224,
	-0.009718749672174454, -0.009156249463558197, -0.008593750186264515, -0.008031249977648258,
	-0.0074687497690320015, -0.006906250026077032, -0.006343749817460775, -0.005781250074505806,
	-0.0052187503315508366, -0.0046562496572732925, -0.004093749914318323, -0.0035312497057020664,
	-0.002968749962747097, -0.002406249986961484, -0.001843750011175871, -0.001281249918974936,
	-0.0009437500848434865, -0.0008312499849125743, -0.0007187500596046448, -0.0006062500760890543,
	-0.000493750034365803, -0.0003812500217463821, -0.0002687500382307917, -0.00015625001105945557,
	-8.874999912222847e-05, -6.625000241911039e-05, -4.374999844003469e-05, -2.1249998098937795e-05,
	-7.749999895168003e-06, -3.250000190746505e-06, -5.500000384017767e-07, 0.0,
	5.500000384017767e-07, 3.250000190746505e-06, 7.749999895168003e-06, 2.1249998098937795e-05,
	4.374999844003469e-05, 6.625000241911039e-05, 8.874999912222847e-05, 0.00015625001105945557,
	0.0002687500382307917, 0.0003812500217463821, 0.000493750034365803, 0.0006062500760890543,
	0.0007187500596046448, 0.0008312499849125743, 0.0009437500848434865, 0.001281249918974936,
	0.001843750011175871, 0.002406249986961484, 0.002968749962747097, 0.0035312497057020664,
	0.004093749914318323, 0.0046562496572732925, 0.0052187503315508366, 0.005781250074505806,
	0.006343749817460775, 0.006906250026077032, 0.0074687497690320015, 0.008031249977648258,
	0.008593750186264515, 0.009156249463558197, 0.009718749672174454, 0.011406250298023224,
	0.014218750409781933, 0.017031250521540642, 0.019843749701976776, 0.02265625074505806,
	0.025468749925494194, 0.02828124724328518, 0.031093750149011612, 0.0339062474668026,
	0.03671875223517418, 0.039531249552965164, 0.04234374687075615, 0.04515625163912773,
	0.047968748956918716, 0.05078125, 0.053593751043081284, 0.05640624836087227,
	0.05921875312924385, 0.06203124672174454, 0.06484375149011612, 0.0676562562584877,
	0.07046874612569809, 0.07328125089406967, 0.07609374821186066, 0.07890625298023224,
	0.08171874284744263, 0.08453124761581421, 0.08734375238418579, 0.09015624970197678,
	0.09296875447034836, 0.09578124433755875, 0.09859374910593033, 0.10703125596046448,
	0.12109375, 0.13515624403953552, 0.14921875298023224, 0.16328124701976776,
	0.17734374105930328, 0.19140625, 0.20546874403953552, 0.21953125298023224,
	0.23359376192092896, 0.24765625596046448, 0.26171875, 0.2757812738418579,
	0.28984373807907104, 0.30390626192092896, 0.3179687261581421, 0.33203125,
	0.34609371423721313, 0.36015623807907104, 0.37421876192092896, 0.3882812261581421,
	0.40234375, 0.41640621423721313, 0.43046873807907104, 0.44453126192092896,
	0.4585937261581421, 0.47265625, 0.4867187738418579, 0.500781238079071,
	0.514843761920929, 0.5289062261581421, 0.54296875, 0.5570312738418579,
	0.5710937976837158, 0.585156261920929, 0.5992187261581421, 0.61328125,
	0.6273437738418579, 0.641406238079071, 0.655468761920929, 0.6695312857627869,
	0.68359375, 0.6976562738418579, 0.7117187976837158, 0.725781261920929,
	0.7398437857627869, 0.75390625, 0.7679687738418579, 0.782031238079071,
	0.7960937023162842, 0.8101562261581421, 0.82421875, 0.8382812142372131,
	0.852343738079071, 0.8664062023162842, 0.8804687261581421, 0.89453125,
	0.9085937738418579, 0.922656238079071, 0.9367187023162842, 0.9507812261581421,
	0.96484375, 0.9789062142372131, 0.992968738079071, 1.0,
}

// NF4Bytes is the resident size of an [out, in] NF4 weight, with 8-bit
// absmax scales when doubleQuant is set.
func NF4Bytes(out, in int, doubleQuant bool) int64 {
	n := int64(out) * int64(in)
	blocks := (n + NF4BlockSize - 1) / NF4BlockSize
	if doubleQuant {
		return (n+1)/2 + blocks + 4*((blocks+DQBlockSize-1)/DQBlockSize) + 4
	}
	return (n+1)/2 + 4*blocks
}

// DoubleQuantize replaces the float32 absmax scales by 8-bit codes, as
// bitsandbytes' double quantization: subtract their mean (Offset), then
// quantize blocks of DQBlockSize to the nearest DynamicMap8 entry of
// value/blockAbsmax. The 4-bit codes are unchanged (they were chosen with the
// exact scales, as in bitsandbytes). A no-op when already done.
func (q *NF4) DoubleQuantize() {
	if q.Absmax == nil {
		return
	}
	var sum float64
	for _, a := range q.Absmax {
		sum += float64(a)
	}
	q.Offset = float32(sum / float64(len(q.Absmax)))
	nb := len(q.Absmax)
	q.AbsmaxQ = make([]byte, nb)
	q.Absmax2 = make([]float32, (nb+DQBlockSize-1)/DQBlockSize)
	for b2 := range q.Absmax2 {
		blk := q.Absmax[b2*DQBlockSize : min((b2+1)*DQBlockSize, nb)]
		var m float32
		for _, a := range blk {
			m = max(m, float32(math.Abs(float64(a-q.Offset))))
		}
		q.Absmax2[b2] = m
		inv := float32(0)
		if m > 0 {
			inv = 1 / m
		}
		for i, a := range blk {
			q.AbsmaxQ[b2*DQBlockSize+i] = DynamicCode8((a - q.Offset) * inv)
		}
	}
	q.Absmax = nil
}

// DynamicCode8 is the index of the DynamicMap8 entry nearest to x (the lower
// one on a tie).
func DynamicCode8(x float32) byte {
	lo, hi := 0, 255
	for lo < hi { // first index whose upper midpoint is not below x
		mid := (lo + hi) / 2
		if x > (DynamicMap8[mid]+DynamicMap8[mid+1])/2 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return byte(lo)
}

// Scale returns block b's absmax (dequantized when double-quantized).
func (q *NF4) Scale(b int) float32 {
	if q.Absmax != nil {
		return q.Absmax[b]
	}
	return DynamicMap8[q.AbsmaxQ[b]]*q.Absmax2[b/DQBlockSize] + q.Offset
}

// Bytes is the resident size of q's codes and scales.
func (q *NF4) Bytes() int64 {
	n := int64(len(q.Codes) + 4*len(q.Absmax) + len(q.AbsmaxQ) + 4*len(q.Absmax2))
	if q.AbsmaxQ != nil {
		n += 4 // Offset
	}
	return n
}

// NF4Code returns the code of x (a value already divided by its block's
// absmax): the nearest codebook entry.
func NF4Code(x float32) byte {
	// Fixed-depth binary search over the 15 thresholds (code = number of
	// thresholds below x); the conditional adds compile to branch-free
	// moves.
	lo := 0
	if x > nf4Mid[7] {
		lo = 8
	}
	if x > nf4Mid[lo+3] {
		lo += 4
	}
	if x > nf4Mid[lo+1] {
		lo += 2
	}
	if x > nf4Mid[lo] {
		lo++
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
				bits := math.Float32bits(v)
				if bits&0x7f800000 == 0x7f800000 { // NaN or ±Inf
					mu.Lock()
					bad = fmt.Errorf("nf4: non-finite weight %g at element %d", v, s+i)
					mu.Unlock()
					return
				}
				amax = max(amax, math.Float32frombits(bits&^(1<<31)))
			}
			q.Absmax[b] = amax
			inv := float32(0)
			if amax > 0 {
				inv = 1 / amax
			}
			// Blocks start at even elements: whole bytes but maybe the last.
			i := s
			for ; i+1 < e; i += 2 {
				q.Codes[i/2] = NF4Code(w[i]*inv)<<4 | NF4Code(w[i+1]*inv)
			}
			if i < e {
				q.Codes[i/2] = NF4Code(w[i]*inv) << 4
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
			s := q.Scale(b)
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
	LinearNF4Ld(y, q.Out, x, q, bf16, n)
	if bias != nil && n > 0 {
		AddBias(y, bias, n, q.Out)
	}
}

// LinearNF4Ld is LinearNF4 without bias into rows of y of stride ldy (the
// first q.Out elements of each row are written).
func LinearNF4Ld(y []float32, ldy int, x []float32, q *NF4, bf16 bool, n int) {
	if n == 0 {
		return
	}
	q.forTiles(bf16, func(r0, r1 int, w []float32, wbf []uint16) {
		sgemmW(false, true, n, r1-r0, q.In, 1, x, q.In, w, wbf, q.In, 0, y[r0:], ldy)
	})
}

// nf4GroupTile dequantizes every member of qs (same In) into consecutive
// rows of one pooled tile and calls fn with it, or returns false when they
// do not fit NF4TileElems together.
func nf4GroupTile(qs []*NF4, bf16 bool, fn func(out int, w []float32, wbf []uint16)) bool {
	out, in := 0, qs[0].In
	for _, q := range qs {
		if q.In != in {
			return false
		}
		out += q.Out
	}
	if out*in > NF4TileElems {
		return false
	}
	if bf16 {
		p := nf4TileBF.Get().(*[]uint16)
		defer nf4TileBF.Put(p)
		if cap(*p) < out*in {
			*p = make([]uint16, out*in)
		}
		t, o := (*p)[:out*in], 0
		for _, q := range qs {
			q.DequantizeBF16(t[o*in:(o+q.Out)*in], 0, q.Out*in)
			o += q.Out
		}
		fn(out, nil, t)
		return true
	}
	p := nf4Tile.Get().(*[]float32)
	defer nf4Tile.Put(p)
	if cap(*p) < out*in {
		*p = make([]float32, out*in)
	}
	t, o := (*p)[:out*in], 0
	for _, q := range qs {
		q.Dequantize(t[o*in:(o+q.Out)*in], 0, q.Out*in)
		o += q.Out
	}
	fn(out, t, nil)
	return true
}

// LinearNF4Group computes the products of several NF4 weights that read the
// same x as one product, y [n, ldy] = x·[W₀; W₁; …]ᵀ (columns in member
// order), dequantizing them into one tile. It returns false, doing nothing,
// when they do not fit one tile (NF4TileElems) or differ in In.
func LinearNF4Group(y []float32, ldy int, x []float32, qs []*NF4, bf16 bool, n int) bool {
	return nf4GroupTile(qs, bf16, func(out int, w []float32, wbf []uint16) {
		if n > 0 {
			sgemmW(false, true, n, out, qs[0].In, 1, x, qs[0].In, w, wbf, qs[0].In, 0, y, ldy)
		}
	})
}

// LinearBackwardNF4Group is the input gradient of LinearNF4Group:
// dx (+)= dy·[W₀; W₁; …] with dy [n, ldy]. It returns false, doing nothing,
// when LinearNF4Group would.
func LinearBackwardNF4Group(dx, dy []float32, ldy int, qs []*NF4, bf16 bool, n int, accumulate bool) bool {
	return nf4GroupTile(qs, bf16, func(out int, w []float32, wbf []uint16) {
		if n > 0 {
			beta := float32(0)
			if accumulate {
				beta = 1
			}
			sgemmW(false, false, n, qs[0].In, out, 1, dy, ldy, w, wbf, qs[0].In, beta, dx, qs[0].In)
		}
	})
}

// LinearBackwardNF4 computes dx (+)= dy·W for the frozen NF4 weight q
// (no weight gradient): dy [n, Out], dx [n, In]. If accumulate is false dx is
// overwritten.
func LinearBackwardNF4(dx, dy []float32, q *NF4, bf16 bool, n int, accumulate bool) {
	LinearBackwardNF4Ld(dx, dy, q.Out, q, bf16, n, accumulate)
}

// LinearBackwardNF4Ld is LinearBackwardNF4 with dy in rows of stride ldy.
func LinearBackwardNF4Ld(dx, dy []float32, ldy int, q *NF4, bf16 bool, n int, accumulate bool) {
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
		sgemmW(false, false, n, q.In, r1-r0, 1, dy[r0:], ldy, w, wbf, q.In, beta, dx, q.In)
	})
}
