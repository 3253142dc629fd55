// Package verify checks exported GGUF files against the model they came
// from. Whetstone's engine loads the GGUF back (quantized tensors
// dequantized, llama q/k rows permuted back) and replays held-out prompts:
// the reference model's greedy continuation of each prompt is fed through
// both models, and at every generated position the check compares the
// greedy (argmax) token and the log-probabilities of the reference's top 5
// tokens. A type passes when its greedy agreement and largest
// log-probability gap are within Bounds. Templates checks that the chat
// template and stop tokens stored in the GGUF and the Modelfile reproduce the
// prompt the model was trained on.
package verify

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/engine/nn"
	"github.com/whetstone/whetstone/internal/export/convert"
	"github.com/whetstone/whetstone/internal/export/gguf"
)

// Bound is what a GGUF type must meet against the model it came from.
type Bound struct {
	// MinGreedyAgreement is the least fraction of positions whose argmax
	// token must equal the reference's.
	MinGreedyAgreement float64 `json:"min_greedy_agreement"`
	// MaxLogprobGap is the largest allowed |Δ log p| over the reference's
	// top-5 tokens at any position.
	MaxLogprobGap float64 `json:"max_logprob_gap"`
}

// Bounds per GGUF type (convert.FileType names). f32 and f16 must agree on
// every greedy token; the quantized bounds were measured on stories260K
// (the model with the largest errors of those tested, see docs/export.md)
// with headroom, and are far below what one corrupted tensor gives.
var Bounds = map[string]Bound{
	"f32":    {MinGreedyAgreement: 1, MaxLogprobGap: 1e-3},
	"f16":    {MinGreedyAgreement: 1, MaxLogprobGap: 0.05},
	"bf16":   {MinGreedyAgreement: 0.98, MaxLogprobGap: 0.25},
	"q8_0":   {MinGreedyAgreement: 0.95, MaxLogprobGap: 0.75},
	"q4_k_m": {MinGreedyAgreement: 0.75, MaxLogprobGap: 5},
	"q4_0":   {MinGreedyAgreement: 0.6, MaxLogprobGap: 8},
}

// Check is the outcome of one GGUF file's check, as the export report
// lists it.
type Check struct {
	File            string  `json:"file"`
	Type            string  `json:"type"`
	GreedyAgreement float64 `json:"greedy_agreement"`
	// MaxLogprobGap is the largest |Δ log p| found; 3.4e38 (float32 max)
	// stands for non-finite logits.
	MaxLogprobGap float64 `json:"max_logprob_gap"`
	Passed        bool    `json:"passed"`
	Bound         Bound   `json:"bound"`
	// Positions is the number of compared positions (prompts × new tokens).
	Positions int `json:"positions"`
	Prompts   int `json:"prompts"`
	// NearTieFlips counts the positions whose greedy token differs where
	// the reference's own log-probabilities of the two tokens differ by
	// at most twice the gap measured there (and by at most the type's
	// bound): ties the rounding of the type may break either way. They
	// count as agreeing for Passed, not in GreedyAgreement.
	NearTieFlips int `json:"near_tie_flips"`
	tieMargin    float64
	// Worst locates MaxLogprobGap: prompt index and generated position.
	WorstPrompt   int `json:"worst_prompt"`
	WorstPosition int `json:"worst_position"`
	// Template is the chat template and stop token check of the file (and
	// its Modelfile), when run.
	Template *TemplateCheck `json:"template,omitempty"`
}

// Error describes the check with its numbers (for a failed node).
func (c *Check) Error() string {
	s := fmt.Sprintf("%s (%s): greedy agreement %.4f (%d near-tie flips; need ≥ %g), max log-prob gap %.4g (allowed %g) over %d positions of %d prompts",
		c.File, c.Type, c.GreedyAgreement, c.NearTieFlips, c.Bound.MinGreedyAgreement, c.MaxLogprobGap, c.Bound.MaxLogprobGap, c.Positions, c.Prompts)
	if c.Template != nil && !c.Template.Passed {
		s += fmt.Sprintf("; template: %v", c.Template.Problems)
	}
	return s
}

const topK = 5

// Reference is the model an export came from, replayed on prompts once:
// each prompt's greedy continuation and, at each generated position, the
// argmax and the top-5 tokens with their log-probabilities.
type Reference struct {
	seqs   [][]int32 // prompt + greedy continuation
	starts []int     // len(prompt) of each
	argmax [][]int32 // per prompt, per position
	topIDs [][][topK]int32
	topLP  [][][topK]float64
	// lp is every position's full log-softmax, for near-ties with tokens
	// outside the top 5 (float32: positions × vocabulary).
	lp [][][]float32
}

// NewReference runs m greedily for newTokens tokens after each prompt
// (token ids, BOS included when the model expects it) and records what
// Compare needs. Prompts longer than the model's positions are cut.
func NewReference(ctx context.Context, m *model.Model, prompts [][]int32, newTokens int) (*Reference, error) {
	if len(prompts) == 0 || newTokens <= 0 {
		return nil, fmt.Errorf("verify: need prompts and new tokens (have %d prompts, %d tokens)", len(prompts), newTokens)
	}
	r := &Reference{}
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("verify: prompt %d is empty", i)
		}
		maxPos := m.Rope.MaxPos
		if len(p)+newTokens > maxPos {
			if maxPos-newTokens < 1 {
				return nil, fmt.Errorf("verify: %d new tokens exceed the model's %d positions", newTokens, maxPos)
			}
			p = p[len(p)-(maxPos-newTokens):]
		}
		cache := m.NewCache(len(p) + newTokens)
		seq := slices.Clone(p)
		logits, err := m.Forward(cache, p, false)
		if err != nil {
			return nil, fmt.Errorf("verify: reference prompt %d: %w", i, err)
		}
		for k := 0; k < newTokens; k++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			next := int32(argmax32(logits))
			seq = append(seq, next)
			if k == newTokens-1 {
				break
			}
			if logits, err = m.Forward(cache, []int32{next}, false); err != nil {
				return nil, fmt.Errorf("verify: reference prompt %d: %w", i, err)
			}
		}
		// the positions compared are the teacher-forced ones, as for the GGUF
		lp, err := positionLogProbs(m, seq, len(p))
		if err != nil {
			return nil, fmt.Errorf("verify: reference prompt %d: %w", i, err)
		}
		am := make([]int32, len(lp))
		ids := make([][topK]int32, len(lp))
		vals := make([][topK]float64, len(lp))
		full := make([][]float32, len(lp))
		for j, row := range lp {
			full[j] = make([]float32, len(row))
			for k, v := range row {
				full[j][k] = float32(v)
			}
			am[j] = int32(argmax64(row))
			for t, id := range topIndices(row, topK) {
				ids[j][t] = int32(id)
				vals[j][t] = row[id]
			}
		}
		r.seqs = append(r.seqs, seq)
		r.starts = append(r.starts, len(p))
		r.argmax = append(r.argmax, am)
		r.topIDs = append(r.topIDs, ids)
		r.topLP = append(r.topLP, vals)
		r.lp = append(r.lp, full)
	}
	return r, nil
}

// positionLogProbs runs seq through m and returns the log-softmax (float64)
// of the logits predicting each token from index start on.
func positionLogProbs(m *model.Model, seq []int32, start int) ([][]float64, error) {
	cache := m.NewCache(len(seq))
	logits, err := m.Forward(cache, seq[:len(seq)-1], true)
	if err != nil {
		return nil, err
	}
	V := m.Cfg.VocabSize
	var out [][]float64
	for pos := start - 1; pos < len(seq)-1; pos++ {
		out = append(out, logSoftmax(logits[pos*V:(pos+1)*V]))
	}
	return out, nil
}

func logSoftmax(x []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = max(mx, float64(v))
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(float64(v) - mx)
	}
	lse := mx + math.Log(s)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v) - lse
	}
	return out
}

func argmax32(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// argmax64 returns the index of the largest value; NaN never wins.
func argmax64(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] || math.IsNaN(x[best]) {
			best = i
		}
	}
	return best
}

func topIndices(x []float64, k int) []int {
	idx := make([]int, 0, k+1)
	for i, v := range x {
		if math.IsNaN(v) {
			continue
		}
		j := len(idx)
		for j > 0 && x[idx[j-1]] < v {
			j--
		}
		if j >= k {
			continue
		}
		idx = slices.Insert(idx, j, i)
		if len(idx) > k {
			idx = idx[:k]
		}
	}
	return idx
}

// nonFinite is the gap reported for NaN or infinite log-probabilities
// (JSON has no infinity).
const nonFinite = math.MaxFloat32

// Compare replays the reference's sequences through m and returns the
// fraction of positions whose argmax equals the reference's, the largest
// |Δ log p| over the reference's top-5 tokens, and where it was.
func (r *Reference) Compare(ctx context.Context, m *model.Model) (c Check, err error) {
	agree, n := 0, 0
	for i, seq := range r.seqs {
		if err := ctx.Err(); err != nil {
			return c, err
		}
		lp, err := positionLogProbs(m, seq, r.starts[i])
		if err != nil {
			return c, fmt.Errorf("verify: prompt %d: %w", i, err)
		}
		for j, row := range lp {
			n++
			local := 0.0
			for t := range topK {
				d := math.Abs(row[r.topIDs[i][j][t]] - r.topLP[i][j][t])
				if math.IsNaN(d) || math.IsInf(d, 0) {
					d = nonFinite
				}
				local = max(local, d)
				if d > c.MaxLogprobGap {
					c.MaxLogprobGap, c.WorstPrompt, c.WorstPosition = d, i, j
				}
			}
			got := argmax64(row)
			if int32(got) == r.argmax[i][j] {
				agree++
				continue
			}
			// A flip between tokens the reference itself ranks within the
			// measured error of each other is a near-tie.
			refPick := float64(r.lp[i][j][got])
			local = max(local, math.Abs(row[got]-refPick))
			if margin := r.topLP[i][j][0] - refPick; margin <= 2*local {
				c.NearTieFlips++
				c.tieMargin = max(c.tieMargin, margin)
			}
		}
	}
	c.Positions, c.Prompts = n, len(r.seqs)
	c.GreedyAgreement = float64(agree) / float64(n)
	return c, nil
}

// LoadGGUF loads a GGUF model file (llama, qwen2, qwen3 as Export writes
// them) into Whetstone's engine, every tensor dequantized to float32.
func LoadGGUF(path string) (*model.Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	g, err := convert.ReadGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := g.Config
	rs := (*nn.RopeScaling)(nil)
	if c.RopeScaling != nil {
		fac, _ := c.RopeScaling["factor"].(float64)
		rs = &nn.RopeScaling{Type: "linear", Factor: fac}
	}
	cfg := model.Config{ModelType: c.ModelType, HiddenSize: c.HiddenSize, IntermediateSize: c.IntermediateSize,
		NumHiddenLayers: c.NumLayers, NumAttentionHeads: c.NumHeads, NumKeyValueHeads: c.NumKVHeads, HeadDim: c.HeadDim,
		VocabSize: c.VocabSize, MaxPositionEmbeddings: c.MaxPositions, RMSNormEps: c.RMSNormEps, RopeTheta: c.RopeTheta,
		RopeScaling: rs, TieWordEmbeddings: c.TieWordEmbeddings, HiddenAct: "silu"}
	m, err := model.FromTensors(cfg, g, path)
	if err != nil {
		return nil, err
	}
	if g.RopeFreqs != nil {
		hd := m.Cfg.HeadDim
		if len(g.RopeFreqs) != hd/2 {
			return nil, fmt.Errorf("%s: rope_freqs.weight has %d values, want %d", path, len(g.RopeFreqs), hd/2)
		}
		inv := nn.InvFreq(hd, m.Cfg.RopeTheta, nil)
		for i := range inv {
			inv[i] /= g.RopeFreqs[i]
		}
		m.Rope = nn.NewRope(hd, m.Cfg.MaxPositionEmbeddings, inv)
	}
	return m, nil
}

// GGUF checks the GGUF file at path (of type typ, reported as file)
// against the reference and returns the check, with Passed set from
// Bounds[typ]. A type without bounds fails. The error is for files that
// cannot be loaded or run at all.
func GGUF(ctx context.Context, ref *Reference, path, file, typ string) (*Check, error) {
	m, err := LoadGGUF(path)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", file, err)
	}
	c, err := ref.Compare(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", file, err)
	}
	c.File, c.Type = file, typ
	b, ok := Bounds[typ]
	c.Bound = b
	excused := 0
	if c.tieMargin <= b.MaxLogprobGap {
		excused = c.NearTieFlips
	}
	agreement := c.GreedyAgreement + float64(excused)/float64(max(c.Positions, 1))
	c.Passed = ok && agreement >= b.MinGreedyAgreement-1e-12 && c.MaxLogprobGap <= b.MaxLogprobGap
	return &c, nil
}

func (r *Reference) positions() int {
	n := 0
	for _, a := range r.argmax {
		n += len(a)
	}
	return n
}
