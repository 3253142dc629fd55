package vec

import "math"

// Exp32 returns eˣ in float32 with a relative error below 2e-7 (about two
// ulps) for finite results; +Inf above 88.72, 0 below -103.97 (subnormal
// results are flushed), NaN for NaN. It is several times faster than
// float32(math.Exp(float64(x))).
func Exp32(x float32) float32 {
	const (
		hi     = 88.72283
		lo     = -103.97208
		log2e  = 1.44269504088896341
		ln2Hi  = 0.693359375
		ln2Lo  = -2.12194440e-4
		minNrm = -87.33654 // below, 2ⁿ would be subnormal
	)
	switch {
	case x != x:
		return x
	case x > hi:
		return float32(math.Inf(1))
	case x < minNrm:
		if x < lo {
			return 0
		}
		return float32(math.Exp(float64(x)))
	}
	// x = n·ln2 + r with |r| ≤ ln2/2, computed in two steps (Cody–Waite).
	n := roundMagic(x * log2e)
	r := x - n*ln2Hi
	r -= n * ln2Lo
	// eʳ by a degree-6 minimax polynomial (Cephes expf).
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	if n > 127 { // x just below hi: 2ⁿ itself overflows, p·2ⁿ does not
		return p * 2 * math.Float32frombits(uint32(int32(n)+126)<<23)
	}
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// roundMagic rounds t to the nearest integer (ties to even) for |t| < 2²²
// by adding and subtracting 1.5·2²³ (Go does not reassociate float math).
func roundMagic(t float32) float32 {
	const magic = 12582912
	return (t + magic) - magic
}

// Exp sets dst[i] = Exp32(x[i]) for i < len(x); dst may alias x. With cgo
// it runs a vectorized C loop computing the same values.
func Exp(dst, x []float32) {
	dst = dst[:len(x)]
	each(len(x), func(lo, hi int) { expSlice(dst[lo:hi], x[lo:hi]) })
}

// ExpSerial is Exp on the calling goroutine only, for callers that already
// split their work across cores.
func ExpSerial(dst, x []float32) { expSlice(dst, x) }

// expSlice is Exp32 over a slice with the common path written inline, so
// the loop body has no call and independent elements overlap.
func expSlice(dst, x []float32) {
	if native && len(x) > 0 {
		expNative(dst[:len(x)], x)
		return
	}
	expGo(dst, x)
}

func expGo(dst, x []float32) {
	const (
		log2e = 1.44269504088896341
		ln2Hi = 0.693359375
		ln2Lo = -2.12194440e-4
	)
	dst = dst[:len(x)]
	for i, v := range x {
		if !(v >= -87.33654 && v <= 88.0) { // NaN, overflow, subnormal: slow path
			dst[i] = Exp32(v)
			continue
		}
		n := roundMagic(v * log2e)
		r := v - n*ln2Hi
		r -= n * ln2Lo
		p := float32(1.9875691500e-4)
		p = p*r + 1.3981999507e-3
		p = p*r + 8.3334519073e-3
		p = p*r + 4.1665795894e-2
		p = p*r + 1.6666665459e-1
		p = p*r + 5.0000001201e-1
		p = p*r*r + r + 1
		dst[i] = p * math.Float32frombits(uint32(int32(n)+127)<<23)
	}
}

// Sigmoid returns 1/(1+e⁻ˣ) in float32, from e = Exp32(-|x|) so it
// neither overflows nor loses the small tail.
func Sigmoid(x float32) float32 {
	e := Exp32(negAbs(x))
	if x >= 0 {
		return 1 / (1 + e)
	}
	return e / (1 + e)
}

func negAbs(x float32) float32 {
	if x < 0 {
		return x
	}
	return -x
}

// Sigmoids sets dst[i] = Sigmoid(x[i]) for i < len(x); dst may alias x.
func Sigmoids(dst, x []float32) {
	dst = dst[:len(x)]
	each(len(x), func(lo, hi int) {
		d, xx := dst[lo:hi], x[lo:hi]
		if native {
			sigmoidNative(d, xx)
			return
		}
		sigmoidGo(d, xx)
	})
}

// SigmoidsSerial is Sigmoids on the calling goroutine only, for callers
// that already split their work across cores.
func SigmoidsSerial(dst, x []float32) {
	dst = dst[:len(x)]
	if native && len(x) > 0 {
		sigmoidNative(dst, x)
		return
	}
	sigmoidGo(dst, x)
}

func sigmoidGo(d, x []float32) {
	for i, v := range x {
		d[i] = Sigmoid(v)
	}
}

// SiLU sets dst[i] = x[i]·Sigmoid(x[i]) for i < len(x); dst may alias x.
func SiLU(dst, x []float32) {
	dst = dst[:len(x)]
	each(len(x), func(lo, hi int) {
		d, xx := dst[lo:hi], x[lo:hi]
		if native {
			siluNative(d, xx)
			return
		}
		siluGo(d, xx)
	})
}

func siluGo(d, x []float32) {
	for i, v := range x {
		d[i] = v * Sigmoid(v)
	}
}

// SiLUMul sets dst[i] = SiLU(g[i])·u[i] for i < len(g), the SwiGLU
// activation of a gate g and up projection u; dst may alias g or u.
func SiLUMul(dst, g, u []float32) {
	dst, u = dst[:len(g)], u[:len(g)]
	each(len(g), func(lo, hi int) {
		d, gg, uu := dst[lo:hi], g[lo:hi], u[lo:hi]
		if native {
			siluMulNative(d, gg, uu)
			return
		}
		siluMulGo(d, gg, uu)
	})
}

func siluMulGo(d, g, u []float32) {
	for i, v := range g {
		d[i] = v * Sigmoid(v) * u[i]
	}
}

// SwiGLUBackward sets, for y = SiLU(g)·u and upstream gradient dy,
// du[i] = dy[i]·SiLU(g[i]) and dg[i] = dy[i]·u[i]·s·(1 + g[i]·(1 − s)) with
// s = Sigmoid(g[i]), for i < len(g). Outputs may alias inputs.
func SwiGLUBackward(dg, du, dy, g, u []float32) {
	n := len(g)
	dg, du, dy, u = dg[:n], du[:n], dy[:n], u[:n]
	each(n, func(lo, hi int) {
		if native {
			swigluBackwardNative(dg[lo:hi], du[lo:hi], dy[lo:hi], g[lo:hi], u[lo:hi])
			return
		}
		swigluBackwardGo(dg[lo:hi], du[lo:hi], dy[lo:hi], g[lo:hi], u[lo:hi])
	})
}

func swigluBackwardGo(dg, du, dy, g, u []float32) {
	for i, v := range g {
		y, uu := dy[i], u[i]
		s := Sigmoid(v)
		du[i] = y * (v * s)
		dg[i] = y * uu * (s * (1 + v*(1-s)))
	}
}

// SwiGLUSavedSerial sets sig[i] = Sigmoid(g[i]) and out[i] = g[i]·sig[i]·u[i]
// for i < len(g), on the calling goroutine: the SwiGLU activation, keeping
// the sigmoid for SwiGLUBackwardSavedSerial. Outputs may alias inputs.
func SwiGLUSavedSerial(out, sig, g, u []float32) {
	n := len(g)
	out, sig, u = out[:n], sig[:n], u[:n]
	if native && n > 0 {
		swigluSavedNative(out, sig, g, u)
		return
	}
	swigluSavedGo(out, sig, g, u)
}

func swigluSavedGo(out, sig, g, u []float32) {
	for i, v := range g {
		s := Sigmoid(v)
		sig[i] = s
		out[i] = v * s * u[i]
	}
}

// SwiGLUBackwardSavedSerial is SwiGLUBackward from the sigmoid s saved by
// SwiGLUSavedSerial (no exponentials): du[i] = dy[i]·g[i]·s[i] and
// dg[i] = dy[i]·u[i]·s[i]·(1 + g[i]·(1 − s[i])), on the calling goroutine.
// Outputs may alias inputs.
func SwiGLUBackwardSavedSerial(dg, du, dy, g, u, s []float32) {
	n := len(g)
	dg, du, dy, u, s = dg[:n], du[:n], dy[:n], u[:n], s[:n]
	if native && n > 0 {
		swigluBackwardSavedNative(dg, du, dy, g, u, s)
		return
	}
	swigluBackwardSavedGo(dg, du, dy, g, u, s)
}

func swigluBackwardSavedGo(dg, du, dy, g, u, s []float32) {
	for i, v := range g {
		si, d := s[i], dy[i]
		du[i] = d * v * si
		dg[i] = d * u[i] * si * (1 + v*(1-si))
	}
}
