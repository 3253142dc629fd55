package nn

import "math"

// exp32 is a branch-light float32 eˣ (Cephes expf polynomial, round-to-
// nearest by the 1.5·2²³ trick instead of math.Floor), relative error below
// 3e-7 for x in [-87, 88]; inputs below -87 return 0 (the callers feed it
// x - max ≤ 0, where such values vanish in any sum).
func exp32(x float32) float32 {
	if x < -87 {
		return 0
	}
	if x > 88 {
		return float32(math.Inf(1))
	}
	const (
		log2e = 1.44269504088896341
		ln2Hi = 0.693359375
		ln2Lo = -2.12194440e-4
		magic = 12582912 // 1.5·2²³
	)
	t := x*log2e + magic
	n := t - magic
	r := x - n*ln2Hi
	r -= n * ln2Lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	e := int32(math.Float32bits(t)) - int32(math.Float32bits(magic)) // n as an integer
	if e > 127 {
		return p * 2 * math.Float32frombits(uint32(e+126)<<23)
	}
	return p * math.Float32frombits(uint32(e+127)<<23)
}

// sigmoid32 is 1/(1+e⁻ˣ) on exp32.
func sigmoid32(x float32) float32 {
	if x >= 0 {
		return 1 / (1 + exp32(-x))
	}
	e := exp32(x)
	return e / (1 + e)
}
