package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// Outcomes of one unit (sample or validation row) in a comparison, from the
// tuned model's side.
const (
	Win  = "win"
	Tie  = "tie"
	Loss = "loss"
)

// MetricComparison is one metric of a comparison.
type MetricComparison struct {
	Name          string `json:"name"`
	LowerIsBetter bool   `json:"lower_is_better"`
	// Base and Tuned are each system's value with its own bootstrap CI.
	Base  CI `json:"base"`
	Tuned CI `json:"tuned"`
	// Delta is Tuned − Base with a paired bootstrap CI.
	Delta CI `json:"delta"`
	// Significant is true when the Delta interval excludes 0.
	Significant bool `json:"significant"`
	// Improved is true when the estimate moved in the better direction.
	Improved bool `json:"improved"`
	// Wins, Ties and Losses count units where the tuned model scored
	// better, the same, or worse than the base.
	Wins   int `json:"wins"`
	Ties   int `json:"ties"`
	Losses int `json:"losses"`
	// Units is how many units the metric ranges over.
	Units int `json:"units"`
}

// SampleComparison pairs one sample's outputs.
type SampleComparison struct {
	Index       int                `json:"index"`
	Prompt      string             `json:"prompt"`
	Reference   string             `json:"reference"`
	BaseOutput  string             `json:"base_output"`
	TunedOutput string             `json:"tuned_output"`
	BaseScores  map[string]float64 `json:"base_scores"`
	TunedScores map[string]float64 `json:"tuned_scores"`
	// Outcome is Win, Tie or Loss on the primary metric.
	Outcome string `json:"outcome"`
}

// HistoryPoint is one logged training step.
type HistoryPoint struct {
	Step     int      `json:"step"`
	Loss     *float64 `json:"loss,omitempty"`
	EvalLoss *float64 `json:"eval_loss,omitempty"`
}

// Comparison is the compare agent's report.
type Comparison struct {
	Kind string `json:"kind"` // KindComparison
	// Primary is the metric that decides each sample's outcome.
	Primary    string             `json:"primary_metric"`
	Metrics    []MetricComparison `json:"metrics"`
	Samples    []SampleComparison `json:"samples"`
	History    []HistoryPoint     `json:"history,omitempty"`
	Bootstrap  int                `json:"bootstrap"`
	Confidence float64            `json:"confidence"`
	Seed       int64              `json:"seed"`
	Base       *Evaluation        `json:"base"`
	Tuned      *Evaluation        `json:"tuned"`
	// Preference, for a DPO fine-tune, is its held-out reward accuracy
	// before (the base is the reference: every pair ties) and after.
	Preference *Preference `json:"preference,omitempty"`
	// Examples lists the units that got worse and better by the primary
	// metric, largest change first, with both outputs and the count of
	// flips; ExamplesLoss the same by validation loss (when the primary
	// metric is not loss).
	Examples     *ExampleChanges `json:"examples,omitempty"`
	ExamplesLoss *ExampleChanges `json:"examples_loss,omitempty"`
	// Contamination lists the training rows that share a long n-gram with
	// an evaluated row (train/eval leakage), when the training split is
	// next to the evaluated one; nil when it could not be checked.
	Contamination *Contamination `json:"contamination,omitempty"`
}

// Contamination is the compare report's train/eval overlap check (package
// data/contam): training rows sharing an Ngram-word n-gram with a row of
// the evaluated split.
type Contamination struct {
	Ngram     int    `json:"ngram"`
	TrainFile string `json:"train_file"`
	EvalFile  string `json:"eval_file"`
	// TrainRows were checked; Rows of them are contaminated.
	TrainRows int `json:"train_rows"`
	Rows      int `json:"rows"`
	// BoilerplateNgrams were left out: found in so many evaluated rows
	// that they are a template's text, not content (contam.Boilerplate).
	BoilerplateNgrams int `json:"boilerplate_ngrams"`
	// Findings name both sides (1-based rows), the first MaxFindings.
	Findings []ContaminationFinding `json:"findings"`
}

// MaxFindings caps Contamination.Findings.
const MaxFindings = 100

// ContaminationFinding is one contaminated training row.
type ContaminationFinding struct {
	TrainRow int `json:"train_row"`
	EvalRow  int `json:"eval_row"`
	// Shared is how many of the training row's n-grams the evaluated row has.
	Shared int `json:"shared"`
}

// Preference summarises DPO's implicit reward on held-out preference pairs:
// r = β·(log π_tuned(y|x) − log π_base(y|x)) summed over the response.
type Preference struct {
	Pairs int     `json:"pairs"`
	Beta  float64 `json:"beta"`
	// Accuracy is the share of pairs with r_chosen > r_rejected (ties count
	// as misses); Lo and Hi its Wilson interval at the report's confidence.
	BaseAccuracy  float64 `json:"base_reward_accuracy"`
	BaseTies      int     `json:"base_ties"`
	TunedAccuracy float64 `json:"tuned_reward_accuracy"`
	TunedTies     int     `json:"tuned_ties"`
	Lo            float64 `json:"tuned_reward_accuracy_lo"`
	Hi            float64 `json:"tuned_reward_accuracy_hi"`
	Margin        float64 `json:"tuned_reward_margin"`
	BaseLoss      float64 `json:"base_loss"`
	TunedLoss     float64 `json:"tuned_loss"`
}

// Wilson returns the Wilson score interval of k successes in n trials at
// confidence conf (0.95 gives z = 1.96).
func Wilson(k, n int, conf float64) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	z := normalQuantile(0.5 + conf/2)
	p, nf := float64(k)/float64(n), float64(n)
	d := 1 + z*z/nf
	c := (p + z*z/(2*nf)) / d
	h := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / d
	return math.Max(0, c-h), math.Min(1, c+h)
}

// normalQuantile is the standard normal quantile (Acklam's approximation,
// relative error below 1.2e-9).
func normalQuantile(p float64) float64 {
	a := []float64{-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00}
	b := []float64{-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01}
	c := []float64{-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00}
	d := []float64{7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00}
	switch {
	case p < 0.02425:
		q := math.Sqrt(-2 * math.Log(p))
		return (((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	case p > 1-0.02425:
		q := math.Sqrt(-2 * math.Log(1-p))
		return -(((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	}
	q := p - 0.5
	r := q * q
	return (((((a[0]*r+a[1])*r+a[2])*r+a[3])*r+a[4])*r + a[5]) * q / (((((b[0]*r+b[1])*r+b[2])*r+b[3])*r+b[4])*r + 1)
}

// CompareOptions configure Compare.
type CompareOptions struct {
	Resamples  int     // defaults to 1000
	Confidence float64 // defaults to 0.95
	Seed       int64
}

// primaryOrder is the preference order for the primary metric.
var primaryOrder = []string{MetricJudge, MetricRougeL, MetricTokenF1, MetricBLEU, MetricExactMatch,
	MetricAccuracy, MetricMacroF1, MetricLoss, MetricPerplexity}

// PrimaryMetric is the metric of names that decides a comparison (the first
// of judge, rouge_l, token_f1, bleu, exact_match, accuracy, macro_f1, loss,
// perplexity present), or "" when none is.
func PrimaryMetric(names []string) string {
	for _, name := range primaryOrder {
		if slices.Contains(names, name) {
			return name
		}
	}
	return ""
}

// Compare compares tuned against base, which must have been evaluated on the
// same rows and samples (same SampleIndices and loss rows). Every metric
// present in both gets a paired bootstrap CI of the delta and win/tie/loss
// counts.
func Compare(base, tuned *Evaluation, opt CompareOptions) (*Comparison, error) {
	if !slices.Equal(base.SampleIndices, tuned.SampleIndices) || len(base.Samples) != len(tuned.Samples) {
		return nil, fmt.Errorf("compare: evaluations generated on different samples")
	}
	if len(base.Loss) != len(tuned.Loss) {
		return nil, fmt.Errorf("compare: evaluations have %d and %d loss rows", len(base.Loss), len(tuned.Loss))
	}
	for i := range base.Loss {
		if base.Loss[i].Index != tuned.Loss[i].Index {
			return nil, fmt.Errorf("compare: loss row %d is row %d in base and %d in tuned", i, base.Loss[i].Index, tuned.Loss[i].Index)
		}
	}
	if opt.Resamples <= 0 {
		opt.Resamples = 1000
	}
	if !(opt.Confidence > 0 && opt.Confidence < 1) {
		opt.Confidence = 0.95
	}
	c := &Comparison{Kind: KindComparison, Bootstrap: opt.Resamples, Confidence: opt.Confidence,
		Seed: opt.Seed, Base: base, Tuned: tuned, Samples: []SampleComparison{}}
	for _, name := range tuned.Metrics {
		if !slices.Contains(base.Metrics, name) {
			continue
		}
		n := Units(tuned, name)
		if n == 0 {
			continue
		}
		mc := MetricComparison{Name: name, LowerIsBetter: LowerIsBetter(name), Units: n}
		// Each CI gets its own generator seeded the same way, so adding a
		// metric does not change the others' intervals.
		mc.Base = Bootstrap(n, opt.Resamples, opt.Confidence, NewRand(opt.Seed),
			func(idx []int) float64 { return Aggregate(base, name, idx) })
		mc.Tuned = Bootstrap(n, opt.Resamples, opt.Confidence, NewRand(opt.Seed),
			func(idx []int) float64 { return Aggregate(tuned, name, idx) })
		mc.Delta = Bootstrap(n, opt.Resamples, opt.Confidence, NewRand(opt.Seed),
			func(idx []int) float64 { return Aggregate(tuned, name, idx) - Aggregate(base, name, idx) })
		mc.Significant = mc.Delta.Lo > 0 || mc.Delta.Hi < 0
		if mc.LowerIsBetter {
			mc.Improved = mc.Delta.Estimate < 0
		} else {
			mc.Improved = mc.Delta.Estimate > 0
		}
		for i := range n {
			switch outcome(unitScore(base, name, i), unitScore(tuned, name, i), mc.LowerIsBetter) {
			case Win:
				mc.Wins++
			case Tie:
				mc.Ties++
			case Loss:
				mc.Losses++
			}
		}
		c.Metrics = append(c.Metrics, mc)
	}
	names := make([]string, len(c.Metrics))
	for i, m := range c.Metrics {
		names[i] = m.Name
	}
	c.Primary = PrimaryMetric(names)
	for i := range tuned.Samples {
		b, t := base.Samples[i], tuned.Samples[i]
		sc := SampleComparison{Index: t.Index, Prompt: t.Prompt, Reference: t.Reference,
			BaseOutput: b.Output, TunedOutput: t.Output, BaseScores: b.Scores, TunedScores: t.Scores}
		switch {
		case c.Primary == "":
		case IsGenerationMetric(c.Primary):
			sc.Outcome = outcome(unitScore(base, c.Primary, i), unitScore(tuned, c.Primary, i), LowerIsBetter(c.Primary))
		default:
			// The primary metric is loss: find the sample's validation row.
			j := slices.IndexFunc(tuned.Loss, func(r LossRow) bool { return r.Index == t.Index })
			if j >= 0 {
				sc.Outcome = outcome(unitScore(base, c.Primary, j), unitScore(tuned, c.Primary, j), true)
			}
		}
		c.Samples = append(c.Samples, sc)
	}
	if c.Primary != "" {
		c.Examples = exampleChanges(base, tuned, c.Primary, opt.Confidence)
	}
	if c.Primary != MetricLoss && slices.ContainsFunc(c.Metrics, func(m MetricComparison) bool { return m.Name == MetricLoss }) {
		c.ExamplesLoss = exampleChanges(base, tuned, MetricLoss, opt.Confidence)
	}
	return c, nil
}

// outcome compares one unit's scores from the tuned model's side. NaN on
// either side is "".
func outcome(base, tuned float64, lowerIsBetter bool) string {
	if math.IsNaN(base) || math.IsNaN(tuned) {
		return ""
	}
	d := tuned - base
	if lowerIsBetter {
		d = -d
	}
	switch {
	case math.Abs(d) <= 1e-9*max(1, math.Abs(base)):
		return Tie
	case d > 0:
		return Win
	}
	return Loss
}

// HistoryFiles are the names FindHistory looks for in a model folder, in
// order: a JSONL of {"step", "loss", "val_loss" or "eval_loss"} records, a
// JSON array of them (the train agent's history.json), or a JSON object
// holding them under "history", "result.history" (the train agent's
// result.json) or "log_history" (Hugging Face's trainer_state.json).
var HistoryFiles = []string{"history.json", "history.jsonl", "metrics.jsonl", "train_history.jsonl",
	"result.json", "trainer_state.json"}

// FindHistory returns the training history file in dir, or "".
func FindHistory(dir string) string {
	for _, name := range HistoryFiles {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// ReadHistory reads a training history (see HistoryFiles). Records without
// a loss or eval_loss are skipped; errors name the file and line.
func ReadHistory(path string) ([]HistoryPoint, error) {
	type rec struct {
		Step     *int     `json:"step"`
		Loss     *float64 `json:"loss"`
		EvalLoss *float64 `json:"eval_loss"`
		ValLoss  *float64 `json:"val_loss"`
	}
	keep := func(r rec, line int, out []HistoryPoint) []HistoryPoint {
		if r.EvalLoss == nil {
			r.EvalLoss = r.ValLoss
		}
		if r.Loss == nil && r.EvalLoss == nil {
			return out
		}
		step := line
		if r.Step != nil {
			step = *r.Step
		}
		return append(out, HistoryPoint{Step: step, Loss: r.Loss, EvalLoss: r.EvalLoss})
	}
	var out []HistoryPoint
	if filepath.Ext(path) == ".json" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read history: %w", err)
		}
		var recs []rec
		if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
			if err := json.Unmarshal(b, &recs); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		} else {
			var st struct {
				LogHistory []rec `json:"log_history"`
				History    []rec `json:"history"`
				Result     struct {
					History []rec `json:"history"`
				} `json:"result"`
			}
			if err := json.Unmarshal(b, &st); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			recs = append(append(st.LogHistory, st.History...), st.Result.History...)
		}
		for i, r := range recs {
			out = keep(r, i+1, out)
		}
		return out, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var r rec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = keep(r, line, out)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}
