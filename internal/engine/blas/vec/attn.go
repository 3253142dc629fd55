package vec

import "math"

// Row kernels of the softmaxes over scores and logits: a row's shifted
// exponentials and their sum (attention's softmax, the cross-entropy's),
// and attention's probabilities and score gradient recomputed in the
// backward pass. Both run on the calling goroutine (their callers split
// work across cores themselves). The C and Go versions give the same bits.

// ExpSum replaces row (non-empty) by exp(row − max) and returns the max and
// Σ exp(row − max), summed in float64: the row's softmax is row/Σ and its
// log-sum-exp max + log(Σ).
func ExpSum(row []float32) (mx float32, sum float64) {
	if native {
		return expSumNative(row)
	}
	return expSumGo(row)
}

// ProbGrad turns scores s, given their row's log-sum-exp l, into the
// probabilities p = exp(s − l) in place, and dp (dO·Vᵀ for the row) into
// the score gradient p·(dp − d), where d = o·dO.
func ProbGrad(s, dp []float32, l, d float32) {
	dp = dp[:len(s)]
	if native {
		probGradNative(s, dp, l, d)
		return
	}
	probGradGo(s, dp, l, d)
}

func expSumGo(row []float32) (float32, float64) {
	mx := float32(math.Inf(-1))
	for _, v := range row {
		if v > mx {
			mx = v
		}
	}
	var p [8]float64
	for i := range row {
		row[i] -= mx
	}
	expGo(row, row)
	i := 0
	for ; i+8 <= len(row); i += 8 {
		r := row[i : i+8 : i+8]
		for j := range 8 {
			p[j] += float64(r[j])
		}
	}
	for j := 0; i+j < len(row); j++ {
		p[j] += float64(row[i+j])
	}
	return mx, ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]))
}

func probGradGo(s, dp []float32, l, d float32) {
	for i := range s {
		s[i] -= l
	}
	expGo(s, s)
	for i, p := range s {
		dp[i] = p * (dp[i] - d)
	}
}
