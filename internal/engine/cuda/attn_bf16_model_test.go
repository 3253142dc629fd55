package cuda

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/whetstone/whetstone/internal/engine/nn"
)

// attnBF16Model is a host model of the bf16 attention kernels' arithmetic
// (kernels.cu, "attention on bf16 tensor cores"): the same key tiles (64
// keys from the query tile's first visible key), the same bf16 roundings
// (Q, K, V, dO when staged; P and dS before their products), scores in base
// 2 with an online max and sum, f32 everywhere else. It runs on every machine
// and checks the design (tiling, masking, online softmax, rounding points)
// and the tolerances TestAttentionBF16MatchesCPU uses on the device, against
// nn.Attention. It does not check the CUDA code itself.
type attnBF16Model struct {
	s          nn.AttnShape
	q, k, v    []float32 // bf16-rounded
	out, lse   []float32
	scale, s2s float32
}

func bf(x float32) float32 { return math.Float32frombits(uint32(bf16Bits(x)) << 16) }

// bf16Bits rounds to nearest even, as f2bf in kernels.cu.
func bf16Bits(v float32) uint16 {
	b := math.Float32bits(v)
	return uint16((b + 0x7fff + ((b >> 16) & 1)) >> 16)
}

func bfAll(x []float32) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = bf(v)
	}
	return y
}

func (m *attnBF16Model) lo(b, t int) int {
	if m.s.SegStart == nil {
		return 0
	}
	return int(m.s.SegStart[b*m.s.T+t])
}

func (m *attnBF16Model) dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func (m *attnBF16Model) rows(b, t, h int) (q []float32, k func(j int) []float32, v func(j int) []float32) {
	s, hd := m.s, m.s.HeadDim
	g := h / (s.Heads / s.KVHeads)
	qo := ((b*s.T+t)*s.Heads + h) * hd
	kv := func(x []float32) func(int) []float32 {
		return func(j int) []float32 { o := ((b*s.T+j)*s.KVHeads + g) * hd; return x[o : o+hd] }
	}
	return m.q[qo : qo+hd], kv(m.k), kv(m.v)
}

func (m *attnBF16Model) forward() {
	s, hd := m.s, m.s.HeadDim
	m.out, m.lse = make([]float32, s.B*s.T*s.Heads*hd), make([]float32, s.B*s.T*s.Heads)
	for b := 0; b < s.B; b++ {
		for h := 0; h < s.Heads; h++ {
			for t := 0; t < s.T; t++ {
				t0 := t / attnBF16Tile * attnBF16Tile
				t1 := min(s.T, t0+attnBF16Tile)
				qr, kr, vr := m.rows(b, t, h)
				mx, l := float32(math.Inf(-1)), float32(0)
				o := make([]float32, hd)
				for j0 := m.lo(b, t0); j0 < t1; j0 += attnBF16Tile {
					if j0 > t { // the kernel skips tiles after a warp's last row; masked anyway
						continue
					}
					var sc [attnBF16Tile]float32
					tmx := float32(math.Inf(-1))
					for c := range sc {
						key := j0 + c
						sc[c] = float32(math.Inf(-1))
						if key >= m.lo(b, t) && key <= t {
							sc[c] = m.dot(qr, kr(key)) * m.s2s
						}
						tmx = max(tmx, sc[c])
					}
					mnew := max(mx, tmx)
					if math.IsInf(float64(mnew), -1) {
						continue
					}
					corr := float32(math.Exp2(float64(mx - mnew)))
					var psum float32
					for d := range o {
						o[d] *= corr
					}
					for c, x := range sc {
						if math.IsInf(float64(x), -1) {
							continue
						}
						p := float32(math.Exp2(float64(x - mnew)))
						psum += p
						pb := bf(p)
						for d, vv := range vr(j0 + c) {
							o[d] += pb * vv
						}
					}
					l = l*corr + psum
					mx = mnew
				}
				off := ((b*s.T+t)*s.Heads + h) * hd
				for d := range o {
					m.out[off+d] = o[d] / l
				}
				m.lse[(b*s.T+t)*s.Heads+h] = mx*math.Ln2 + float32(math.Log(float64(l)))
			}
		}
	}
}

// backward returns dq, dk, dv given dout (float32) and the model's own
// forward (D = rowsum(out·dout) in f32, as attn_rowdot).
func (m *attnBF16Model) backward(dout []float32) (dq, dk, dv []float32) {
	s, hd := m.s, m.s.HeadDim
	dq, dk, dv = make([]float32, len(m.q)), make([]float32, len(m.k)), make([]float32, len(m.v))
	dob := bfAll(dout)
	g := func(h int) int { return h / (s.Heads / s.KVHeads) }
	for b := 0; b < s.B; b++ {
		for h := 0; h < s.Heads; h++ {
			for t := 0; t < s.T; t++ {
				off := ((b*s.T+t)*s.Heads + h) * hd
				D := m.dot(m.out[off:off+hd], dout[off:off+hd])
				l2 := m.lse[(b*s.T+t)*s.Heads+h] * math.Log2E
				qr, kr, vr := m.rows(b, t, h)
				dor := dob[off : off+hd]
				for j := m.lo(b, t); j <= t; j++ {
					p := float32(math.Exp2(float64(m.dot(qr, kr(j))*m.s2s - l2)))
					ds := bf(p * (m.dot(dor, vr(j)) - D))
					pb := bf(p)
					ko := ((b*s.T+j)*s.KVHeads + g(h)) * hd
					for d := 0; d < hd; d++ {
						dq[off+d] += ds * kr(j)[d]
						dk[ko+d] += ds * qr[d]
						dv[ko+d] += pb * dor[d]
					}
				}
			}
		}
	}
	for i := range dq {
		dq[i] *= m.scale
	}
	for i := range dk {
		dk[i] *= m.scale
	}
	return dq, dk, dv
}

// attnBF16Cases are the shapes both bf16 attention tests run: T not a
// multiple of the 64-row tile, GQA, packed samples, head dims 64 and 128.
var attnBF16Cases = []struct {
	name             string
	B, T, H, KVH, hd int
	packed           bool
}{
	{"hd64 gqa T200", 2, 200, 8, 2, 64, false},
	{"hd64 packed T150", 2, 150, 4, 4, 64, true},
	{"hd64 T3", 1, 3, 2, 1, 64, false},
	{"hd64 T64", 1, 64, 2, 2, 64, false},
	{"hd128 gqa T130", 1, 130, 4, 2, 128, false},
	{"hd128 packed gqa T97", 2, 97, 6, 2, 128, true},
}

// Tolerances of the bf16 attention against nn.Attention (relative L2):
// about 3× the largest error the host model shows on attnBF16Cases (out
// 2.8e-3, lse 3.0e-3 with 3 keys, dq/dk/dv 6.6e-3 with 3 keys: Q, K, V
// rounded to bf16 move each score by up to 2⁻⁸ of |q|·|k|·scale). Against the host model itself the
// device must agree to attnBF16ModelTol: only the f32 summation order
// differs (and, through it, a rare bf16 rounding of P or dS).
const (
	attnBF16OutTol   = 1e-2
	attnBF16LseTol   = 1e-2
	attnBF16GradTol  = 2e-2
	attnBF16ModelTol = 2e-3
)

type attnCase struct {
	s             nn.AttnShape
	q, k, v, dout []float32
	out, lse      []float32
	dq, dk, dv    []float32
}

// newAttnCase draws inputs and computes the CPU reference.
func newAttnCase(r *rand.Rand, B, T, H, KVH, hd int, packed bool) *attnCase {
	N, qs, ks := B*T, H*hd, KVH*hd
	c := &attnCase{q: randn(r, N*qs, 1), k: randn(r, N*ks, 1), v: randn(r, N*ks, 1), dout: randn(r, N*qs, 1)}
	c.s = nn.AttnShape{B: B, T: T, Heads: H, KVHeads: KVH, HeadDim: hd}
	if packed {
		seg := make([]int32, N)
		for b := 0; b < B; b++ {
			start := 0
			for t := 0; t < T; t++ {
				if t > 0 && r.IntN(40) == 0 {
					start = t
				}
				seg[b*T+t] = int32(start)
			}
		}
		c.s.SegStart = seg
	}
	c.out, c.lse = make([]float32, N*qs), make([]float32, N*H)
	nn.Attention(c.out, c.lse, c.q, c.k, c.v, c.s)
	c.dq, c.dk, c.dv = make([]float32, N*qs), make([]float32, N*ks), make([]float32, N*ks)
	nn.AttentionBackward(c.dq, c.dk, c.dv, c.dout, c.q, c.k, c.v, c.out, c.lse, c.s)
	return c
}

// model runs the host model of the bf16 kernels on c's inputs.
func (c *attnCase) model() (out, lse, dq, dk, dv []float32) {
	scale := float32(1 / math.Sqrt(float64(c.s.HeadDim)))
	m := &attnBF16Model{s: c.s, q: bfAll(c.q), k: bfAll(c.k), v: bfAll(c.v), scale: scale, s2s: scale * math.Log2E}
	m.forward()
	dq, dk, dv = m.backward(c.dout)
	return m.out, m.lse, dq, dk, dv
}

func TestAttentionBF16HostModel(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, tc := range attnBF16Cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newAttnCase(r, tc.B, tc.T, tc.H, tc.KVH, tc.hd, tc.packed)
			out, lse, dq, dk, dv := c.model()
			for _, x := range []struct {
				name      string
				got, want []float32
				tol       float64
			}{
				{"out", out, c.out, attnBF16OutTol}, {"lse", lse, c.lse, attnBF16LseTol},
				{"dq", dq, c.dq, attnBF16GradTol}, {"dk", dk, c.dk, attnBF16GradTol}, {"dv", dv, c.dv, attnBF16GradTol},
			} {
				e := relErr(x.got, x.want)
				t.Logf("%s: relative error %.3g (bound %.0e)", x.name, e, x.tol)
				if !(e <= x.tol) {
					t.Errorf("%s: relative error %.3g > %.0e", x.name, e, x.tol)
				}
			}
		})
	}
}
