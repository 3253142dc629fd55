package vec

import "math"

// RMSNormRows computes, for each of n rows of d elements of x,
// rs = 1/√(mean(x²) + eps) (summed in float64) and out = w·(x·rs), storing
// rs in rstd[r] when rstd is non-nil; on the calling goroutine. out may
// alias x. The sum of squares runs in 8 interleaved float64 partial sums
// (element i into partial i mod 8) so the C and Go loops agree bit for bit.
func RMSNormRows(out, rstd, x, w []float32, n, d int, eps float32) {
	if n <= 0 || d <= 0 {
		return
	}
	_, _, _ = out[n*d-1], x[n*d-1], w[d-1]
	if rstd != nil {
		_ = rstd[n-1]
	}
	if native {
		rmsnormNative(out, rstd, x, w, n, d, eps)
		return
	}
	rmsnormGo(out, rstd, x, w, n, d, eps)
}

func rmsnormGo(out, rstd, x, w []float32, n, d int, eps float32) {
	for r := 0; r < n; r++ {
		xr, o := x[r*d:(r+1)*d], out[r*d:(r+1)*d]
		var p [8]float64
		for i, v := range xr {
			p[i&7] += float64(v) * float64(v)
		}
		rs := float32(1 / math.Sqrt(sum8(&p)/float64(d)+float64(eps)))
		if rstd != nil {
			rstd[r] = rs
		}
		for j, v := range xr {
			o[j] = w[j] * (v * rs)
		}
	}
}

// RMSNormBackwardRows computes dx (+)= ∂L/∂x of RMSNormRows for n rows from
// dout, the input x, the weight w and the saved rstd, on the calling
// goroutine: c = (Σ w·dout·x / d)·rs³ (summed as in RMSNormRows) and
// dx = rs·w·dout − c·x. dx is overwritten unless accumulate.
func RMSNormBackwardRows(dx, dout, x, w, rstd []float32, n, d int, accumulate bool) {
	if n <= 0 || d <= 0 {
		return
	}
	_, _, _, _, _ = dx[n*d-1], dout[n*d-1], x[n*d-1], w[d-1], rstd[n-1]
	if native {
		rmsnormBackwardNative(dx, dout, x, w, rstd, n, d, accumulate)
		return
	}
	rmsnormBackwardGo(dx, dout, x, w, rstd, n, d, accumulate)
}

func rmsnormBackwardGo(dx, dout, x, w, rstd []float32, n, d int, accumulate bool) {
	for r := 0; r < n; r++ {
		xr, dr, dxr := x[r*d:(r+1)*d], dout[r*d:(r+1)*d], dx[r*d:(r+1)*d]
		rs := rstd[r]
		var p [8]float64
		for j, v := range xr {
			p[j&7] += float64(w[j]*dr[j]) * float64(v)
		}
		c := float32(sum8(&p)/float64(d)) * rs * rs * rs
		if accumulate {
			for j, v := range xr {
				dxr[j] += rs*w[j]*dr[j] - c*v
			}
		} else {
			for j, v := range xr {
				dxr[j] = rs*w[j]*dr[j] - c*v
			}
		}
	}
}

func sum8(p *[8]float64) float64 {
	return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]))
}
