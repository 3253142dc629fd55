package eval

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// IgnoreIndex marks a label position that does not count in the loss.
const IgnoreIndex = -100

// Model is what evaluation needs from a language model.
type Model interface {
	// Loss returns the summed cross-entropy (natural log) and the number of
	// counted positions for the token sequence ids. labels has len(ids);
	// labels[i] is the target at position i in Hugging Face's convention:
	// the model predicts labels[i] from ids[:i] (it shifts internally), and
	// IgnoreIndex positions do not count.
	Loss(ctx context.Context, ids, labels []int) (sum float64, n int, err error)
	// Generate continues promptIDs with at most opts.MaxNewTokens tokens and
	// returns only the new ones, stopping after any id in opts.Stop (which
	// is not returned).
	Generate(ctx context.Context, promptIDs []int, opts GenerateOptions) ([]int, error)
}

// GenerateOptions are decoding settings.
type GenerateOptions struct {
	MaxNewTokens int
	// Temperature 0 decodes greedily.
	Temperature float64
	Seed        int64
	Stop        []int
}

// Tokenizer is what evaluation needs from a tokenizer. When it also has a
// StopTokens() []int method (internal/tokenizer does), generation stops at
// any of those ids too.
type Tokenizer interface {
	Encode(text string, addSpecial bool) []int
	Decode(ids []int, skipSpecial bool) string
	EOS() (int, bool)
}

// Loader loads the model in the Hugging Face folder base with the PEFT
// adapter folder adapter attached (none when empty), and its tokenizer.
// enginemodel.Load is the loader for Whetstone's own engine.
type Loader func(ctx context.Context, base, adapter string) (Model, Tokenizer, error)

// Judge rates one output. Implementations must be safe for concurrent use.
type Judge interface {
	Rate(ctx context.Context, in JudgeInput) (Verdict, error)
	Settings() JudgeSettings
}

// JudgeInput is what a judge sees.
type JudgeInput struct {
	Prompt, Reference, Output string
}

// Verdict is a judge's rating: Score on the 1–10 rubric scale.
type Verdict struct {
	Score  float64
	Reason string
}

// Options configure Evaluate.
type Options struct {
	// Metrics to compute; see AllMetrics. Defaults to loss and perplexity.
	Metrics []string
	// MaxNewTokens per sample. Defaults to 64.
	MaxNewTokens int
	// Samples is how many rows to generate on, picked at random with Seed
	// (all rows when larger than the split). Ignored when SampleIndices is
	// set. 0 generates nothing.
	Samples int
	// SampleIndices, when set, are exactly the rows to generate on.
	SampleIndices []int
	Temperature   float64
	Seed          int64
	// Judge rates outputs when the judge metric is requested.
	Judge Judge
	// JudgeConcurrency bounds the judge calls in flight. Defaults to 4.
	JudgeConcurrency int
	// Progress, when set, is called after each unit of work.
	Progress func(fraction float64, eta time.Duration, msg string)
}

// Evaluate scores m on rows: loss and perplexity over every row's answer
// tokens (when requested), and generation on the chosen samples with the
// requested text metrics. The returned report has no Model or Dataset
// reference; callers fill those in.
func Evaluate(ctx context.Context, m Model, tok Tokenizer, rows []Row, opt Options) (*Evaluation, error) {
	start := time.Now()
	metrics := opt.Metrics
	if len(metrics) == 0 {
		metrics = []string{MetricLoss, MetricPerplexity}
	}
	for _, name := range metrics {
		if !slices.Contains(AllMetrics, name) {
			return nil, fmt.Errorf("unknown metric %q (known: %s)", name, strings.Join(AllMetrics, ", "))
		}
	}
	wantJudge := slices.Contains(metrics, MetricJudge)
	if wantJudge && opt.Judge == nil {
		return nil, fmt.Errorf("metric %q needs a judge (set judge_url)", MetricJudge)
	}
	maxNew := cmpOr(opt.MaxNewTokens, 64)
	idx := opt.SampleIndices
	if idx == nil {
		idx = PickSamples(len(rows), opt.Samples, opt.Seed)
	}
	for _, i := range idx {
		if i < 0 || i >= len(rows) {
			return nil, fmt.Errorf("sample index %d out of range [0, %d)", i, len(rows))
		}
	}
	e := &Evaluation{
		Kind:          KindEvaluation,
		Metrics:       metrics,
		Results:       map[string]float64{},
		Generation:    GenerationSettings{MaxNewTokens: maxNew, Temperature: opt.Temperature, Seed: opt.Seed},
		SampleIndices: slices.Clone(idx),
		Samples:       []Sample{},
	}
	if wantJudge {
		s := opt.Judge.Settings()
		e.Judge = &s
	}
	eosID, hasEOS := tok.EOS()
	eosText := ""
	var stop []int
	if hasEOS {
		eosText = tok.Decode([]int{eosID}, false)
		stop = []int{eosID}
	}
	// Chat models also end a turn with end-of-turn tokens.
	if st, ok := tok.(interface{ StopTokens() []int }); ok {
		for _, id := range st.StopTokens() {
			if !slices.Contains(stop, id) {
				stop = append(stop, id)
			}
		}
	}

	wantLoss := slices.Contains(metrics, MetricLoss) || slices.Contains(metrics, MetricPerplexity)
	// Progress weights: a loss row costs about one forward pass, a sample
	// about MaxNewTokens/8 of them with a KV cache.
	genWeight := max(1.0, float64(maxNew)/8)
	total := float64(len(idx)) * genWeight
	if wantLoss {
		total += float64(len(rows))
	}
	done := 0.0
	report := func(msg string) {
		if opt.Progress == nil || total == 0 {
			return
		}
		frac := done / total
		var eta time.Duration
		if frac > 0 {
			eta = time.Duration(float64(time.Since(start)) * (1 - frac) / frac)
		}
		opt.Progress(frac, eta, msg)
	}

	if wantLoss {
		for i, r := range rows {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			ids, labels := LossInputs(tok, r)
			sum, n, err := m.Loss(ctx, ids, labels)
			if err != nil {
				return nil, fmt.Errorf("loss of row %d: %w", i, err)
			}
			e.Loss = append(e.Loss, LossRow{Index: i, Sum: sum, Tokens: n})
			done++
			report(fmt.Sprintf("loss %d/%d", i+1, len(rows)))
		}
	}

	// Judge calls run in the background, at most JudgeConcurrency at a
	// time, while generation goes on.
	e.Samples = make([]Sample, len(idx))
	judgeErrs := make([]error, len(idx))
	var wg sync.WaitGroup
	sem := make(chan struct{}, cmpOr(opt.JudgeConcurrency, 4))
	jctx, cancelJudges := context.WithCancel(ctx)
	defer cancelJudges()
	for k, i := range idx {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r := rows[i]
		s := Sample{Index: i, Prompt: r.Prompt, Reference: r.Reference(eosText), Scores: map[string]float64{}}
		out, err := m.Generate(ctx, tok.Encode(r.Prompt, true), GenerateOptions{
			MaxNewTokens: maxNew, Temperature: opt.Temperature, Seed: opt.Seed + int64(i), Stop: stop,
		})
		if err != nil {
			return nil, fmt.Errorf("generate row %d: %w", i, err)
		}
		s.OutputTokens = len(out)
		s.Output = strings.TrimSpace(tok.Decode(out, true))
		scoreSample(&s, metrics)
		e.Samples[k] = s
		if wantJudge {
			wg.Add(1)
			sem <- struct{}{}
			go func(s *Sample, errp *error) {
				defer func() { <-sem; wg.Done() }()
				v, err := opt.Judge.Rate(jctx, JudgeInput{Prompt: s.Prompt, Reference: s.Reference, Output: s.Output})
				if err != nil {
					*errp = err
					return
				}
				s.Scores[MetricJudge] = v.Score
				s.JudgeReason = v.Reason
			}(&e.Samples[k], &judgeErrs[k])
		}
		done += genWeight
		report(fmt.Sprintf("sample %d/%d", k+1, len(idx)))
	}
	if wantJudge {
		report("waiting for the judge")
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for k, err := range judgeErrs {
			if err != nil {
				// The sample keeps no judge score; Aggregate skips it.
				e.Warnings = append(e.Warnings, fmt.Sprintf("judge on row %d: %v", idx[k], err))
			}
		}
	}

	for _, name := range metrics {
		n := Units(e, name)
		if n == 0 {
			continue
		}
		if v := Aggregate(e, name, all(n)); !math.IsNaN(v) {
			e.Results[name] = v
		}
	}
	e.ElapsedSeconds = time.Since(start).Seconds()
	return e, nil
}

// scoreSample fills the per-sample scores of the generation metrics.
func scoreSample(s *Sample, metrics []string) {
	for _, name := range metrics {
		switch name {
		case MetricExactMatch:
			s.Scores[name] = ExactMatch(s.Output, s.Reference)
		case MetricTokenF1:
			s.Scores[name] = TokenF1(s.Output, s.Reference)
		case MetricRougeL:
			s.Scores[name] = RougeL(s.Output, s.Reference)
		case MetricBLEU:
			b := NewBLEUStats(s.Output, s.Reference)
			s.BLEU = &b
			s.Scores[name] = b.Score(true)
		case MetricAccuracy, MetricMacroF1:
			s.PredLabel, s.RefLabel = ClassLabel(s.Output), ClassLabel(s.Reference)
			v := 0.0
			if s.PredLabel == s.RefLabel {
				v = 1
			}
			s.Scores[name] = v
		}
	}
}

// LossInputs tokenizes a row for Model.Loss: ids of the whole text (with
// special tokens, and the EOS token appended when the tokenizer has one),
// labels equal to ids on the answer and IgnoreIndex on the prompt. The
// prompt is the longest common prefix of the text's ids and the prompt's
// ids, so a token that straddles the boundary counts as answer.
func LossInputs(tok Tokenizer, r Row) (ids, labels []int) {
	ids = tok.Encode(r.Text, true)
	if eos, ok := tok.EOS(); ok && (len(ids) == 0 || ids[len(ids)-1] != eos) {
		ids = append(ids, eos)
	}
	p := tok.Encode(r.Prompt, true)
	n := 0
	for n < len(p) && n < len(ids) && p[n] == ids[n] {
		n++
	}
	labels = make([]int, len(ids))
	for i := range ids {
		if i < n {
			labels[i] = IgnoreIndex
		} else {
			labels[i] = ids[i]
		}
	}
	return ids, labels
}

// PickSamples returns min(k, n) distinct row indices in [0, n), chosen
// uniformly with seed and sorted. k <= 0 picks none.
func PickSamples(n, k int, seed int64) []int {
	if k <= 0 || n == 0 {
		return []int{}
	}
	if k >= n {
		return all(n)
	}
	perm := NewRand(seed).Perm(n)[:k]
	slices.Sort(perm)
	return perm
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}
