package train

import (
	"fmt"
	"math"

	"github.com/whetstone/whetstone/internal/engine/model"
)

// Pair is one preference example: the same prompt continued by a chosen and
// a rejected response. Each Example's Train mask marks the response tokens
// (the prompt's are masked), so a sequence's log-probability is the sum over
// its response tokens only.
type Pair struct {
	Chosen, Rejected Example
}

// DPOStats summarises the DPO loss of Rafailov et al. (2023) over some pairs:
//
//	r_c = β·(log π(y_c|x) − log π_ref(y_c|x)),  r_r likewise
//	loss = mean −log σ(r_c − r_r)
type DPOStats struct {
	Loss float64 `json:"loss"`
	// ChosenReward and RejectedReward are the mean r_c and r_r.
	ChosenReward   float64 `json:"chosen_reward"`
	RejectedReward float64 `json:"rejected_reward"`
	// Accuracy is the share of pairs with r_c > r_r; Margin the mean r_c − r_r.
	Accuracy float64 `json:"reward_accuracy"`
	Margin   float64 `json:"reward_margin"`
	Pairs    int     `json:"pairs"`
	// Ties counts pairs with r_c = r_r (before training every pair ties:
	// the policy is the reference).
	Ties int `json:"ties"`
	// Tokens is the number of tokens run through the policy.
	Tokens int `json:"tokens"`
}

// Reference gives the reference model's summed response log-probability of
// an example (no gradients).
type Reference interface {
	LogProb(ex Example) (float64, error)
}

// adapterOff is the reference of LoRA DPO: the policy with its adapters
// switched off (PEFT's disable_adapter).
type adapterOff struct {
	m      *model.Model
	maxLen int
}

func (r adapterOff) LogProb(ex Example) (float64, error) {
	r.m.SetLoRAEnabled(false)
	defer r.m.SetLoRAEnabled(true)
	lp, _, err := seqLogProb(r.m, ex, r.maxLen, 0, false)
	return lp, err
}

// frozenCopy is the reference of full-weight DPO: a copy of the initial
// weights.
type frozenCopy struct {
	m      *model.Model
	maxLen int
}

func (r frozenCopy) LogProb(ex Example) (float64, error) {
	lp, _, err := seqLogProb(r.m, ex, r.maxLen, 0, false)
	return lp, err
}

// NewReference returns the DPO reference for policy m: m with its adapters
// off when it has LoRA adapters, else a frozen copy of its current weights
// (take it before training starts).
func NewReference(m *model.Model, maxLen int) Reference {
	if len(m.LoRAParams()) > 0 {
		return adapterOff{m, maxLen}
	}
	return frozenCopy{m.CloneFrozen(), maxLen}
}

// cachedRef memoises reference log-probabilities by example: they never
// change during a run.
type cachedRef struct {
	ref  Reference
	memo map[*int32]float64
}

func (c *cachedRef) LogProb(ex Example) (float64, error) {
	if len(ex.IDs) == 0 {
		return c.ref.LogProb(ex)
	}
	k := &ex.IDs[0]
	if v, ok := c.memo[k]; ok {
		return v, nil
	}
	v, err := c.ref.LogProb(ex)
	if err == nil {
		c.memo[k] = v
	}
	return v, err
}

// seqLogProb runs one example (truncated to maxLen) through m and returns
// the summed log-probability of its trained tokens and the number of tokens.
// With backward set it accumulates −gradScale·∂(log-prob)/∂θ into the
// trainable gradients (the gradient of gradScale × the summed loss).
func seqLogProb(m *model.Model, ex Example, maxLen int, gradScale float32, backward bool) (float64, int, error) {
	b := toBatch(buildSeqs([]Example{ex}, []int{0}, maxLen, false))
	sum, _, err := m.ForwardBackward(b, gradScale, backward)
	return -sum, b.B * b.T, err
}

func logSigmoid(x float64) float64 {
	if x >= 0 {
		return -math.Log1p(math.Exp(-x))
	}
	return x - math.Log1p(math.Exp(x))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// DPOGrad computes the DPO loss of the policy m over pairs against ref
// (β = beta) and, with backward set, accumulates scale·∂(mean loss)/∂θ into
// every trainable gradient of m (dropout applies when train is set, seeded
// by seed). The caller zeroes the gradients first.
//
// For one pair, with z = r_c − r_r: ∂loss/∂log π(y_c) = −β·σ(−z) and
// ∂loss/∂log π(y_r) = +β·σ(−z); each sequence's gradient is taken by one
// forward-backward pass and combined with those weights.
func DPOGrad(m *model.Model, ref Reference, pairs []Pair, beta float64, maxLen int, backward, train bool, seed uint64, scale float32) (DPOStats, error) {
	var st DPOStats
	if len(pairs) == 0 {
		return st, ErrNoData
	}
	params := m.Trainable()
	var acc, gc [][]float32
	if backward {
		acc, gc = make([][]float32, len(params)), make([][]float32, len(params))
		for i, p := range params {
			acc[i] = make([]float32, len(p.Grad))
			gc[i] = make([]float32, len(p.Grad))
			copy(acc[i], p.Grad) // keep what the caller accumulated
		}
	}
	n := float64(len(pairs))
	for pi, pr := range pairs {
		pr = Pair{Chosen: fitResponse(pr.Chosen, maxLen), Rejected: fitResponse(pr.Rejected, maxLen)}
		var lp [2]float64
		var rl [2]float64
		for s, ex := range []Example{pr.Chosen, pr.Rejected} {
			r, err := ref.LogProb(ex)
			if err != nil {
				return st, fmt.Errorf("dpo reference: %w", err)
			}
			rl[s] = r
			if backward {
				for _, p := range params {
					clear(p.Grad)
				}
			}
			b := toBatch(buildSeqs([]Example{ex}, []int{0}, maxLen, false))
			b.Train = train
			b.DropoutSeed = seed*0x9e3779b97f4a7c15 + uint64(2*pi+s) + 1
			sum, _, err := m.ForwardBackward(b, 1, backward)
			if err != nil {
				return st, fmt.Errorf("dpo pair %d: %w", pi, err)
			}
			lp[s] = -sum
			st.Tokens += b.B * b.T
			if backward && s == 0 {
				for i, p := range params {
					copy(gc[i], p.Grad)
				}
			}
		}
		rc, rr := beta*(lp[0]-rl[0]), beta*(lp[1]-rl[1])
		z := rc - rr
		if z == 0 {
			st.Ties++
		}
		st.Loss -= logSigmoid(z) / n
		st.ChosenReward += rc / n
		st.RejectedReward += rr / n
		st.Margin += z / n
		if z > 0 {
			st.Accuracy += 1 / n
		}
		if backward {
			// The passes gave ∂(−log π)/∂θ; d loss/d log π_c = −β·σ(−z).
			w := float32(beta * sigmoid(-z) / n * float64(scale))
			for i, p := range params {
				a, c := acc[i], gc[i]
				for j, g := range p.Grad {
					a[j] += w * (c[j] - g)
				}
			}
		}
	}
	st.Pairs = len(pairs)
	if backward {
		for i, p := range params {
			copy(p.Grad, acc[i])
		}
	}
	return st, nil
}

// fitResponse shortens an example longer than maxLen as TRL does for DPO:
// the prompt loses tokens from its start (after the first, BOS), so the
// response stays whole; a response longer than maxLen−1 keeps its start.
// Examples that fit are returned as they are.
func fitResponse(ex Example, maxLen int) Example {
	if maxLen <= 1 || len(ex.IDs) <= maxLen || ex.Train == nil {
		return ex
	}
	r := 1
	for r < len(ex.Train) && !ex.Train[r] {
		r++
	}
	keepPrompt := max(0, maxLen-1-(len(ex.IDs)-r)) // prompt tokens after the first
	out := Example{IDs: make([]int32, 0, maxLen), Train: make([]bool, 0, maxLen)}
	out.IDs = append(out.IDs, ex.IDs[0])
	out.Train = append(out.Train, ex.Train[0])
	out.IDs = append(out.IDs, ex.IDs[r-keepPrompt:r]...)
	out.Train = append(out.Train, ex.Train[r-keepPrompt:r]...)
	n := maxLen - len(out.IDs)
	out.IDs = append(out.IDs, ex.IDs[r:r+min(n, len(ex.IDs)-r)]...)
	out.Train = append(out.Train, ex.Train[r:r+min(n, len(ex.IDs)-r)]...)
	return out
}

// fitPairs applies fitResponse to every pair once (so reference
// log-probabilities are cached per fitted example).
func fitPairs(ps []Pair, maxLen int) []Pair {
	out := make([]Pair, len(ps))
	for i, p := range ps {
		out[i] = Pair{Chosen: fitResponse(p.Chosen, maxLen), Rejected: fitResponse(p.Rejected, maxLen)}
	}
	return out
}
