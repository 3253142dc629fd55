package quant

import (
	"encoding/binary"
	"math"
)

func abs32(v float32) float32 { return float32(math.Abs(float64(v))) }

// blockQ8_0: d = amax/127, q = round(x/d) (half away from zero).
func blockQ8_0(out []byte, x []float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(out, d)
	for j, v := range x {
		out[2+j] = byte(int8(math.Round(float64(v * id))))
	}
}

func deqQ8_0(y []float32, b []byte) {
	d := f16(b)
	for j := range y {
		y[j] = float32(int8(b[2+j])) * d
	}
}

// signedMax returns the value of x with the largest magnitude (first wins).
func signedMax(x []float32) float32 {
	var amax, m float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, m = a, v
		}
	}
	return m
}

// blockQ4_0: d = max/-8 (max keeps its sign), q = min(15, trunc(x/d + 8.5)),
// value j in the low nibble of qs[j], value j+16 in the high nibble.
func blockQ4_0(out []byte, x []float32) {
	d := signedMax(x) / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(out, d)
	for j := 0; j < 16; j++ {
		x0 := min(15, int8(x[j]*id+8.5))
		x1 := min(15, int8(x[j+16]*id+8.5))
		out[2+j] = byte(x0) | byte(x1)<<4
	}
}

func deqQ4_0(y []float32, b []byte) {
	d := f16(b)
	for j := 0; j < 16; j++ {
		y[j] = float32(int(b[2+j]&0xf)-8) * d
		y[j+16] = float32(int(b[2+j]>>4)-8) * d
	}
}

// blockQ5_0: d = max/-16, q = min(31, trunc(x/d + 16.5)); low four bits as in
// Q4_0, the fifth bit of value j in bit j of the little-endian qh word.
func blockQ5_0(out []byte, x []float32) {
	d := signedMax(x) / -16
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(out, d)
	var qh uint32
	for j := 0; j < 16; j++ {
		x0 := min(31, int8(x[j]*id+16.5))
		x1 := min(31, int8(x[j+16]*id+16.5))
		out[6+j] = byte(x0&0xf) | byte(x1&0xf)<<4
		qh |= uint32(x0&0x10) >> 4 << j
		qh |= uint32(x1&0x10) >> 4 << (j + 16)
	}
	binary.LittleEndian.PutUint32(out[2:], qh)
}

func deqQ5_0(y []float32, b []byte) {
	d := f16(b)
	qh := binary.LittleEndian.Uint32(b[2:])
	for j := 0; j < 16; j++ {
		h0 := byte(qh>>j<<4) & 0x10
		h1 := byte(qh>>(j+12)) & 0x10
		y[j] = float32(int(b[6+j]&0xf|h0)-16) * d
		y[j+16] = float32(int(b[6+j]>>4|h1)-16) * d
	}
}

// makeQKX2 finds a scale and a (non-positive) minimum for n values so that
// x ≈ scale·L + min with L in [0, nmax], minimising the weighted squared
// error over a small search of scales (ggml's make_qkx2_quants). It returns
// the scale and -min.
func makeQKX2(nmax int, x, w []float32, L, aux []uint8, rmin, rdelta float32, nstep int) (float32, float32) {
	mn, mx := x[0], x[0]
	sumW, sumX := w[0], w[0]*x[0]
	for i := 1; i < len(x); i++ {
		mn, mx = min(mn, x[i]), max(mx, x[i])
		sumW += w[i]
		sumX += w[i] * x[i]
	}
	mn = min(mn, 0)
	if mx == mn {
		clear(L)
		return 0, -mn
	}
	iscale := float32(nmax) / (mx - mn)
	scale := 1 / iscale
	var best float32
	for i, v := range x {
		l := max(0, min(nmax, nearestInt(iscale*(v-mn))))
		L[i] = uint8(l)
		diff := scale*float32(l) + mn - v
		best += w[i] * diff * diff
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + rdelta*float32(is) + float32(nmax)) / (mx - mn)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := max(0, min(nmax, nearestInt(iscale*(v-mn))))
			aux[i] = uint8(l)
			fl := float32(l)
			sumL += w[i] * fl
			sumL2 += w[i] * fl * fl
			sumXL += w[i] * fl * v
		}
		D := sumW*sumL2 - sumL*sumL
		if D <= 0 {
			continue
		}
		thisScale := (sumW*sumXL - sumX*sumL) / D
		thisMin := (sumL2*sumX - sumL*sumXL) / D
		if thisMin > 0 {
			thisMin = 0
			thisScale = sumXL / sumL2
		}
		var mad float32
		for i, v := range x {
			diff := thisScale*float32(aux[i]) + thisMin - v
			mad += w[i] * diff * diff
		}
		if mad < best {
			copy(L, aux)
			best, scale, mn = mad, thisScale, thisMin
		}
	}
	return scale, -mn
}

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j of a Q4_K block.
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// blockQ4K quantizes 256 values as eight sub-blocks of 32 with 6-bit scales
// and mins (ggml's quantize_row_q4_K_ref).
func blockQ4K(out []byte, x []float32) {
	var L [qkK]uint8
	var aux [32]uint8
	var w [32]float32
	var scales, mins [8]float32
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		var sum2 float32
		for _, v := range xs {
			sum2 += v * v
		}
		av := float32(math.Sqrt(float64(sum2 / 32)))
		for l, v := range xs {
			w[l] = av + abs32(v)
		}
		scales[j], mins[j] = makeQKX2(15, xs, w[:], L[32*j:32*j+32], aux[:], -1, 0.1, 20)
		maxScale, maxMin = max(maxScale, scales[j]), max(maxMin, mins[j])
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := out[4:16]
	clear(sc)
	for j := 0; j < 8; j++ {
		ls := uint8(min(63, nearestInt(invScale*scales[j])))
		lm := uint8(min(63, nearestInt(invMin*mins[j])))
		if j < 4 {
			sc[j] = ls
			sc[j+4] = lm
		} else {
			sc[j+4] = ls&0xf | (lm&0xf)<<4
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	putF16(out[0:], maxScale/63)
	putF16(out[2:], maxMin/63)
	dAll, mAll := f16(out[0:]), f16(out[2:])
	for j := 0; j < 8; j++ {
		s, m := scaleMinK4(j, sc)
		d := dAll * float32(s)
		if d == 0 {
			continue
		}
		dm := mAll * float32(m)
		for i := 0; i < 32; i++ {
			L[32*j+i] = uint8(max(0, min(15, nearestInt((x[32*j+i]+dm)/d))))
		}
	}
	q := out[16:]
	for j := 0; j < qkK; j += 64 {
		for l := 0; l < 32; l++ {
			q[l] = L[j+l] | L[j+l+32]<<4
		}
		q = q[32:]
	}
}

func deqQ4K(y []float32, b []byte) {
	d, mn := f16(b[0:]), f16(b[2:])
	sc := b[4:16]
	q := b[16:]
	for j, is := 0, 0; j < qkK; j, is = j+64, is+2 {
		s1, m1 := scaleMinK4(is, sc)
		s2, m2 := scaleMinK4(is+1, sc)
		d1, d2 := d*float32(s1), d*float32(s2)
		o1, o2 := mn*float32(m1), mn*float32(m2)
		for l := 0; l < 32; l++ {
			y[j+l] = d1*float32(q[l]&0xf) - o1
			y[j+32+l] = d2*float32(q[l]>>4) - o2
		}
		q = q[32:]
	}
}

// makeQX finds a symmetric scale for x ≈ scale·(L-nmax) with L-nmax in
// [-nmax, nmax-1], weighting errors by x² (ggml's make_qx_quants with
// rmse_type 1 and no importance weights). L receives values in [0, 2·nmax).
func makeQX(nmax int, x []float32, L []int8) float32 {
	var mx, amax float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, mx = a, v
		}
	}
	if amax < 1e-30 {
		clear(L)
		return 0
	}
	fn := float32(nmax)
	iscale := -fn / mx
	var sumLX, sumL2 float32
	for i, v := range x {
		l := max(-nmax, min(nmax-1, nearestInt(iscale*v)))
		L[i] = int8(l + nmax)
		w := v * v
		sumLX += w * v * float32(l)
		sumL2 += w * float32(l*l)
	}
	scale := sumLX / sumL2
	best := scale * sumLX
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fn + 0.1*float32(is)) / mx
		sumLX, sumL2 = 0, 0
		for _, v := range x {
			l := max(-nmax, min(nmax-1, nearestInt(iscale*v)))
			w := v * v
			sumLX += w * v * float32(l)
			sumL2 += w * float32(l*l)
		}
		if sumL2 > 0 && sumLX*sumLX > best*sumL2 {
			for i, v := range x {
				L[i] = int8(nmax + max(-nmax, min(nmax-1, nearestInt(iscale*v))))
			}
			scale = sumLX / sumL2
			best = scale * sumLX
		}
	}
	return scale
}

// blockQ6K quantizes 256 values as sixteen sub-blocks of 16 with int8 scales
// (ggml's quantize_row_q6_K_ref).
func blockQ6K(out []byte, x []float32) {
	var L [qkK]int8
	var scales [16]float32
	var maxScale, maxAbs float32
	for ib := 0; ib < 16; ib++ {
		s := makeQX(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
		scales[ib] = s
		if a := abs32(s); a > maxAbs {
			maxAbs, maxScale = a, s
		}
	}
	ql, qh, sc := out[0:128], out[128:192], out[192:208]
	if maxAbs < 1e-30 {
		clear(out)
		return
	}
	iscale := -128 / maxScale
	putF16(out[208:], 1/iscale)
	for ib := 0; ib < 16; ib++ {
		sc[ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
	}
	d0 := f16(out[208:])
	for j := 0; j < 16; j++ {
		d := d0 * float32(int8(sc[j]))
		if d == 0 {
			continue
		}
		for i := 0; i < 16; i++ {
			l := max(-32, min(31, nearestInt(x[16*j+i]/d)))
			L[16*j+i] = int8(l + 32)
		}
	}
	for j := 0; j < qkK; j += 128 {
		for l := 0; l < 32; l++ {
			q1 := uint8(L[j+l]) & 0xf
			q2 := uint8(L[j+l+32]) & 0xf
			q3 := uint8(L[j+l+64]) & 0xf
			q4 := uint8(L[j+l+96]) & 0xf
			ql[l] = q1 | q3<<4
			ql[l+32] = q2 | q4<<4
			qh[l] = uint8(L[j+l])>>4 | (uint8(L[j+l+32])>>4)<<2 | (uint8(L[j+l+64])>>4)<<4 | (uint8(L[j+l+96])>>4)<<6
		}
		ql = ql[64:]
		qh = qh[32:]
	}
}

func deqQ6K(y []float32, b []byte) {
	d := f16(b[208:])
	ql, qh, sc := b[0:128], b[128:192], b[192:208]
	for n := 0; n < qkK; n += 128 {
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int(ql[l]&0xf|(qh[l]&3)<<4) - 32
			q2 := int(ql[l+32]&0xf|((qh[l]>>2)&3)<<4) - 32
			q3 := int(ql[l]>>4|((qh[l]>>4)&3)<<4) - 32
			q4 := int(ql[l+32]>>4|((qh[l]>>6)&3)<<4) - 32
			y[n+l] = d * float32(int8(sc[is])) * float32(q1)
			y[n+l+32] = d * float32(int8(sc[is+2])) * float32(q2)
			y[n+l+64] = d * float32(int8(sc[is+4])) * float32(q3)
			y[n+l+96] = d * float32(int8(sc[is+6])) * float32(q4)
		}
		ql = ql[64:]
		qh = qh[32:]
		sc = sc[8:]
	}
}
