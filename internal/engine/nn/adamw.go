package nn

import "math"

// AdamW is the decoupled-weight-decay Adam optimiser (Loshchilov & Hutter), as
// torch.optim.AdamW computes it: p -= lr·wd·p, then the bias-corrected Adam
// step.
type AdamW struct {
	Beta1, Beta2 float64 // Defaults 0.9, 0.999.
	Eps          float64 // Defaults 1e-8.
	WeightDecay  float64 // Defaults 0.01 (torch's default).
}

// DefaultAdamW returns torch's defaults.
func DefaultAdamW() AdamW { return AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01} }

// Step updates p in place from its gradient g and moment buffers m, v at
// optimiser step t (1-based) with learning rate lr.
func (o AdamW) Step(p, g, m, v []float32, t int, lr float64) {
	bc1 := 1 - math.Pow(o.Beta1, float64(t))
	bc2 := 1 - math.Pow(o.Beta2, float64(t))
	b1, b2 := float32(o.Beta1), float32(o.Beta2)
	decay := float32(1 - lr*o.WeightDecay)
	stepSize := float32(lr / bc1)
	sq := float32(math.Sqrt(bc2))
	eps := float32(o.Eps)
	parallelRows(len(p), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			gi := g[i]
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
			p[i] *= decay
			denom := float32(math.Sqrt(float64(v[i])))/sq + eps
			p[i] -= stepSize * m[i] / denom
		}
	})
}

// SumSquares returns Σ x² in float64.
func SumSquares(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s
}

// Scale multiplies x by a in place.
func Scale(x []float32, a float32) {
	for i := range x {
		x[i] *= a
	}
}
