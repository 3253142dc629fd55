package nn

import (
	"math"

	"github.com/whetstone/whetstone/internal/engine/blas/vec"
)

// Linear computes y = x·Wᵀ (+ bias) for x [n, in], W [out, in], y [n, out].
// bias may be nil. y is overwritten.
func Linear(y, x, w, bias []float32, n, in, out int) {
	LinearW(y, x, w, nil, bias, n, in, out)
}

// LinearW is Linear with the weight given as float32 w or, when wbf is
// non-nil, as bfloat16 bits (products in bf16, sums in float32).
func LinearW(y, x, w []float32, wbf []uint16, bias []float32, n, in, out int) {
	sgemmW(false, true, n, out, in, 1, x, in, w, wbf, in, 0, y, out)
	if bias != nil {
		AddBias(y, bias, n, out)
	}
}

// LinearBackward computes dx (+)= dy·W and, when dw is non-nil,
// dw += dyᵀ·x, dbias += Σrows dy (dbias may be nil). If accumulate is false dx
// is overwritten.
func LinearBackward(dx, dw, dbias, dy, x, w []float32, n, in, out int, accumulate bool) {
	LinearBackwardW(dx, dw, dbias, dy, x, w, nil, n, in, out, accumulate)
}

// LinearBackwardW is LinearBackward with the weight optionally given as
// bfloat16 bits wbf for the dx product.
func LinearBackwardW(dx, dw, dbias, dy, x, w []float32, wbf []uint16, n, in, out int, accumulate bool) {
	if dx != nil {
		beta := float32(0)
		if accumulate {
			beta = 1
		}
		sgemmW(false, false, n, in, out, 1, dy, out, w, wbf, in, beta, dx, in)
	}
	if dw != nil {
		sgemm(true, false, out, in, n, 1, dy, out, x, in, 1, dw, in)
	}
	if dbias != nil {
		for r := 0; r < n; r++ {
			row := dy[r*out : (r+1)*out]
			for j, v := range row {
				dbias[j] += v
			}
		}
	}
}

// AddBias adds bias [d] to every row of y [n, d].
func AddBias(y, bias []float32, n, d int) {
	for r := 0; r < n; r++ {
		row := y[r*d : (r+1)*d]
		for j := range row {
			row[j] += bias[j]
		}
	}
}

// Add computes dst += src element-wise.
func Add(dst, src []float32) {
	parallelRows(len(dst), 1<<14, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		for i := range d {
			d[i] += s[i]
		}
	})
}

// Embedding gathers rows of table [V, d] into out [len(ids), d].
func Embedding(out, table []float32, ids []int32, d int) {
	for r, id := range ids {
		copy(out[r*d:(r+1)*d], table[int(id)*d:int(id+1)*d])
	}
}

// EmbeddingBackward scatters dout [len(ids), d] into dtable [V, d] (accumulating).
func EmbeddingBackward(dtable, dout []float32, ids []int32, d int) {
	for r, id := range ids {
		dst := dtable[int(id)*d : int(id+1)*d]
		src := dout[r*d : (r+1)*d]
		for j := range dst {
			dst[j] += src[j]
		}
	}
}

// RMSNorm computes out = w ⊙ x / sqrt(mean(x²) + eps) row-wise for x [n, d],
// storing 1/sqrt(mean(x²)+eps) per row in rstd [n] (rstd may be nil).
// out may alias x.
func RMSNorm(out, rstd, x, w []float32, n, d int, eps float32) {
	parallelRows(n, 64, func(lo, hi int) {
		var rs []float32
		if rstd != nil {
			rs = rstd[lo:hi]
		}
		vec.RMSNormRows(out[lo*d:hi*d], rs, x[lo*d:hi*d], w, hi-lo, d, eps)
	})
}

// RMSNormBackward computes dx (+)= ∂L/∂x and, when dw is non-nil,
// dw += ∂L/∂w, from dout, the input x, the weight w and the rstd saved by
// RMSNorm. dx is overwritten unless accumulate.
func RMSNormBackward(dx, dw, dout, x, w, rstd []float32, n, d int, accumulate bool) {
	// y = w * x * rs; dL/dx = rs*(w*dy) - rs^3 * x * mean(w*dy*x)
	parallelRows(n, 64, func(lo, hi int) {
		vec.RMSNormBackwardRows(dx[lo*d:hi*d], dout[lo*d:hi*d], x[lo*d:hi*d], w, rstd[lo:hi], hi-lo, d, accumulate)
	})
	if dw != nil {
		for r := 0; r < n; r++ {
			xr, dr := x[r*d:(r+1)*d], dout[r*d:(r+1)*d]
			rs := rstd[r]
			for j, v := range xr {
				dw[j] += dr[j] * v * rs
			}
		}
	}
}

// Rope holds cos/sin tables for rotary position embeddings in the Hugging
// Face rotate_half layout: for a head of size hd, element i < hd/2 pairs with
// i + hd/2.
type Rope struct {
	HeadDim  int
	Cos, Sin []float32 // [maxPos, hd/2]
	MaxPos   int
}

// RopeScaling mirrors config.json's rope_scaling.
type RopeScaling struct {
	Type                          string  `json:"rope_type"`
	LegacyType                    string  `json:"type"`
	Factor                        float64 `json:"factor"`
	LowFreqFactor                 float64 `json:"low_freq_factor"`
	HighFreqFactor                float64 `json:"high_freq_factor"`
	OriginalMaxPositionEmbeddings float64 `json:"original_max_position_embeddings"`
}

// Kind returns the scaling type, "" for none.
func (s *RopeScaling) Kind() string {
	if s == nil {
		return ""
	}
	if s.Type != "" {
		return s.Type
	}
	return s.LegacyType
}

// InvFreq returns the rotary inverse frequencies (float32, as transformers
// computes them) with the given scaling applied. Unknown scaling types are
// rejected by the model config, not here; they are treated as none.
func InvFreq(hd int, theta float64, sc *RopeScaling) []float32 {
	f := make([]float32, hd/2)
	for i := range f {
		e := float32(2*i) / float32(hd)
		f[i] = float32(1 / math.Pow(theta, float64(e)))
	}
	switch sc.Kind() {
	case "linear":
		for i := range f {
			f[i] = float32(float64(f[i]) / sc.Factor)
		}
	case "llama3":
		fac, lo, hi, old := sc.Factor, sc.LowFreqFactor, sc.HighFreqFactor, sc.OriginalMaxPositionEmbeddings
		for i, fi := range f {
			ff := float64(fi)
			wl := 2 * math.Pi / ff
			switch {
			case wl > old/lo:
				f[i] = float32(ff / fac)
			case wl < old/hi:
			default:
				s := (old/wl - lo) / (hi - lo)
				f[i] = float32((1-s)*ff/fac + s*ff)
			}
		}
	}
	return f
}

// NewRope builds tables for positions [0, maxPos).
func NewRope(hd, maxPos int, invFreq []float32) *Rope {
	h := hd / 2
	r := &Rope{HeadDim: hd, MaxPos: maxPos, Cos: make([]float32, maxPos*h), Sin: make([]float32, maxPos*h)}
	for p := 0; p < maxPos; p++ {
		for i := 0; i < h; i++ {
			a := float32(p) * invFreq[i] // float32 product, as torch.outer does
			r.Cos[p*h+i] = float32(math.Cos(float64(a)))
			r.Sin[p*h+i] = float32(math.Sin(float64(a)))
		}
	}
	return r
}

// Apply rotates x [n, heads·hd] in place, row r at position pos[r].
// inverse applies the transposed rotation (the backward pass).
func (rp *Rope) Apply(x []float32, pos []int32, n, heads int, inverse bool) {
	rp.ApplyLd(x, heads*rp.HeadDim, pos, n, heads, inverse)
}

// ApplyLd is Apply on rows of stride ld (the first heads·HeadDim elements
// of each row rotate).
func (rp *Rope) ApplyLd(x []float32, ld int, pos []int32, n, heads int, inverse bool) {
	hd, h := rp.HeadDim, rp.HeadDim/2
	parallelRows(n, 32, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			p := int(pos[r])
			cs, sn := rp.Cos[p*h:(p+1)*h], rp.Sin[p*h:(p+1)*h]
			for hh := 0; hh < heads; hh++ {
				v := x[r*ld+hh*hd : r*ld+(hh+1)*hd]
				a, b := v[:h], v[h:hd]
				if inverse {
					for i := range a {
						x1, x2 := a[i], b[i]
						a[i] = x1*cs[i] + x2*sn[i]
						b[i] = x2*cs[i] - x1*sn[i]
					}
				} else {
					for i := range a {
						x1, x2 := a[i], b[i]
						a[i] = x1*cs[i] - x2*sn[i]
						b[i] = x2*cs[i] + x1*sn[i]
					}
				}
			}
		}
	})
}

func silu(x float32) float32 { return x * sigmoid32(x) }

// SwiGLU computes out = silu(gate) ⊙ up element-wise.
func SwiGLU(out, gate, up []float32) {
	parallelRows(len(out), 1<<13, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = silu(gate[i]) * up[i]
		}
	})
}

// SwiGLUBackward computes dgate and dup (overwritten) from dout.
func SwiGLUBackward(dgate, dup, dout, gate, up []float32) {
	parallelRows(len(dout), 1<<13, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := gate[i]
			s := sigmoid32(g)
			sg := g * s
			dup[i] = dout[i] * sg
			dgate[i] = dout[i] * up[i] * s * (1 + g*(1-s))
		}
	})
}

// SwiGLUSaved is SwiGLU that also stores sigmoid(gate) in sig for
// SwiGLUBackwardSaved, which then needs no exponentials.
func SwiGLUSaved(out, sig, gate, up []float32) {
	parallelRows(len(out), 1<<13, func(lo, hi int) {
		vec.SwiGLUSavedSerial(out[lo:hi], sig[lo:hi], gate[lo:hi], up[lo:hi])
	})
}

// SwiGLUBackwardSaved is SwiGLUBackward from the sigmoid saved by
// SwiGLUSaved. dgate may alias dout.
func SwiGLUBackwardSaved(dgate, dup, dout, gate, up, sig []float32) {
	parallelRows(len(dout), 1<<13, func(lo, hi int) {
		vec.SwiGLUBackwardSavedSerial(dgate[lo:hi], dup[lo:hi], dout[lo:hi], gate[lo:hi], up[lo:hi], sig[lo:hi])
	})
}

// SwiGLUFused is SwiGLUSaved on a fused gate/up projection: gu is [n, 2·I],
// each row the gate's I values then the up's I values. out and sig are
// [n, I].
func SwiGLUFused(out, sig, gu []float32, n, inter int) {
	parallelRows(n, max(1, (1<<13)/max(inter, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			gate, up := gu[2*r*inter:(2*r+1)*inter], gu[(2*r+1)*inter:(2*r+2)*inter]
			vec.SwiGLUSavedSerial(out[r*inter:(r+1)*inter], sig[r*inter:(r+1)*inter], gate, up)
		}
	})
}

// SwiGLUBackwardFused is SwiGLUBackwardSaved for SwiGLUFused: it writes the
// gate and up gradients into dgu [n, 2·I] (same layout as gu) from dout
// [n, I].
func SwiGLUBackwardFused(dgu, dout, gu, sig []float32, n, inter int) {
	parallelRows(n, max(1, (1<<13)/max(inter, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			gate, up := gu[2*r*inter:(2*r+1)*inter], gu[(2*r+1)*inter:(2*r+2)*inter]
			dg, du := dgu[2*r*inter:(2*r+1)*inter], dgu[(2*r+1)*inter:(2*r+2)*inter]
			vec.SwiGLUBackwardSavedSerial(dg, du, dout[r*inter:(r+1)*inter], gate, up, sig[r*inter:(r+1)*inter])
		}
	})
}

// AddBiasLd adds bias [d] to the first d elements of n rows of stride ld.
func AddBiasLd(y []float32, ld int, bias []float32, n, d int) {
	for r := 0; r < n; r++ {
		row := y[r*ld : r*ld+d]
		for j := range row {
			row[j] += bias[j]
		}
	}
}

// LinearLd is LinearW without bias into rows of y of stride ldy: the first
// out elements of each row of y are overwritten with x·Wᵀ.
func LinearLd(y []float32, ldy int, x, w []float32, wbf []uint16, n, in, out int) {
	sgemmW(false, true, n, out, in, 1, x, in, w, wbf, in, 0, y, ldy)
}

// LinearBackwardLd is LinearBackwardW's input gradient with dy in rows of
// stride ldy: dx (+)= dy·W.
func LinearBackwardLd(dx, dy []float32, ldy int, w []float32, wbf []uint16, n, in, out int, accumulate bool) {
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	sgemmW(false, false, n, in, out, 1, dy, ldy, w, wbf, in, beta, dx, in)
}
