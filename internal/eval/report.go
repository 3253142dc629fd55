package eval

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
)

// Report kinds, the "kind" field of the JSON reports.
const (
	KindEvaluation = "evaluation"
	KindComparison = "comparison"
)

// Row is one row of a preprocessed split (train.jsonl, validation.jsonl).
type Row struct {
	// Text is the full templated text: prompt followed by the answer.
	Text string `json:"text"`
	// Prompt is the prefix of Text the model is given; the answer (the
	// reference) is Text without it.
	Prompt string `json:"prompt"`
	// Messages are the chat messages the row came from, if any.
	Messages []map[string]any `json:"messages,omitempty"`
}

// Reference returns the answer part of the row: Text without Prompt, trimmed
// of surrounding white space and of a trailing eos string when eos is not
// empty.
func (r Row) Reference(eos string) string {
	ref := strings.TrimPrefix(r.Text, r.Prompt)
	ref = strings.TrimSpace(ref)
	if eos != "" {
		ref = strings.TrimSpace(strings.TrimSuffix(ref, eos))
	}
	return ref
}

// ReadRows reads a JSONL split. Errors name the file and line. Blank lines
// are skipped; a row without text is an error.
func ReadRows(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read rows: %w", err)
	}
	defer f.Close()
	var rows []Row
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var r Row
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if r.Text == "" {
			return nil, fmt.Errorf("%s:%d: field \"text\" is missing or empty", path, line)
		}
		if !strings.HasPrefix(r.Text, r.Prompt) {
			return nil, fmt.Errorf("%s:%d: field \"prompt\" is not a prefix of field \"text\"", path, line)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line+1, err)
	}
	return rows, nil
}

// ModelRef says which model an evaluation ran.
type ModelRef struct {
	// Path is the evaluated artifact: an adapter folder or a model folder.
	Path string `json:"path"`
	// BaseModel is the base model folder; equal to Path for a plain model.
	BaseModel string `json:"base_model"`
	// Adapter is the PEFT adapter folder, empty for a plain model.
	Adapter string `json:"adapter,omitempty"`
	// History is the training history file found next to the model, if any.
	History string `json:"history,omitempty"`
	// URI is the model artifact's blob key, so a node on another machine
	// can fetch it when Path is not there.
	URI string `json:"uri,omitempty"`
}

// DatasetRef says which split an evaluation read.
type DatasetRef struct {
	Path  string `json:"path"`          // the dataset artifact (folder or file)
	Split string `json:"split"`         // "validation"
	File  string `json:"file"`          // the JSONL file of the split
	Rows  int    `json:"rows"`          // rows in the split
	URI   string `json:"uri,omitempty"` // the dataset artifact's blob key
}

// GenerationSettings are the decoding settings of an evaluation.
type GenerationSettings struct {
	MaxNewTokens int     `json:"max_new_tokens"`
	Temperature  float64 `json:"temperature"`
	Seed         int64   `json:"seed"`
}

// JudgeSettings record which judge scored an evaluation (never the key).
type JudgeSettings struct {
	URL   string `json:"url"`
	Model string `json:"model"`
}

// LossRow is the summed token loss of one validation row.
type LossRow struct {
	Index  int     `json:"index"`
	Sum    float64 `json:"sum"`
	Tokens int     `json:"tokens"`
}

// Sample is one generated sample with its scores.
type Sample struct {
	Index     int    `json:"index"` // row index in the split
	Prompt    string `json:"prompt"`
	Reference string `json:"reference"`
	Output    string `json:"output"`
	// Scores holds the per-sample value of each generation metric requested
	// (bleu is smoothed sentence BLEU; accuracy and macro_f1 are 1 when the
	// labels match; judge is the 1–10 rating).
	Scores       map[string]float64 `json:"scores"`
	BLEU         *BLEUStats         `json:"bleu_stats,omitempty"`
	PredLabel    string             `json:"pred_label,omitempty"`
	RefLabel     string             `json:"ref_label,omitempty"`
	JudgeReason  string             `json:"judge_reason,omitempty"`
	OutputTokens int                `json:"output_tokens"`
}

// Evaluation is the evaluate agent's report.
type Evaluation struct {
	Kind string `json:"kind"` // KindEvaluation
	// Metrics are the requested metric names.
	Metrics []string `json:"metrics"`
	// Results are the aggregate values by metric name.
	Results    map[string]float64 `json:"results"`
	Model      ModelRef           `json:"model"`
	Dataset    DatasetRef         `json:"dataset"`
	Generation GenerationSettings `json:"generation"`
	Judge      *JudgeSettings     `json:"judge,omitempty"`
	// SampleIndices are the split rows generated on, in order.
	SampleIndices []int     `json:"sample_indices"`
	Loss          []LossRow `json:"loss_rows,omitempty"`
	Samples       []Sample  `json:"samples"`
	// Warnings are problems that did not stop the run (judge failures...).
	Warnings       []string `json:"warnings,omitempty"`
	ElapsedSeconds float64  `json:"elapsed_seconds"`
	// Device is where the model ran: cpu or cuda:N (empty in reports
	// written before it was recorded).
	Device string `json:"device,omitempty"`
}

// ReadEvaluation reads an evaluation report written as JSON.
func ReadEvaluation(path string) (*Evaluation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read evaluation: %w", err)
	}
	var e Evaluation
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if e.Kind != KindEvaluation {
		return nil, fmt.Errorf("%s: kind is %q, want %q", path, e.Kind, KindEvaluation)
	}
	return &e, nil
}

// Aggregate computes metric over the units idx of e: validation rows (Loss)
// for loss and perplexity, samples for the rest. It returns NaN when the
// metric has no data.
func Aggregate(e *Evaluation, metric string, idx []int) float64 {
	switch metric {
	case MetricLoss, MetricPerplexity:
		sum, n := 0.0, 0
		for _, i := range idx {
			sum += e.Loss[i].Sum
			n += e.Loss[i].Tokens
		}
		if n == 0 {
			return math.NaN()
		}
		if metric == MetricPerplexity {
			return math.Exp(sum / float64(n))
		}
		return sum / float64(n)
	case MetricBLEU:
		var s BLEUStats
		for _, i := range idx {
			if b := e.Samples[i].BLEU; b != nil {
				s = s.Add(*b)
			}
		}
		if len(idx) == 0 {
			return math.NaN()
		}
		return s.Score(false)
	case MetricMacroF1:
		pred := make([]string, len(idx))
		ref := make([]string, len(idx))
		for k, i := range idx {
			pred[k], ref[k] = e.Samples[i].PredLabel, e.Samples[i].RefLabel
		}
		if len(idx) == 0 {
			return math.NaN()
		}
		return MacroF1(pred, ref)
	}
	sum, n := 0.0, 0
	for _, i := range idx {
		if v, ok := e.Samples[i].Scores[metric]; ok && !math.IsNaN(v) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// Units returns how many units Aggregate ranges over for metric.
func Units(e *Evaluation, metric string) int {
	if metric == MetricLoss || metric == MetricPerplexity {
		return len(e.Loss)
	}
	return len(e.Samples)
}

// unitScore is the per-unit value of metric used for win/tie/loss.
func unitScore(e *Evaluation, metric string, i int) float64 {
	switch metric {
	case MetricLoss, MetricPerplexity:
		r := e.Loss[i]
		if r.Tokens == 0 {
			return math.NaN()
		}
		return r.Sum / float64(r.Tokens)
	case MetricMacroF1:
		metric = MetricAccuracy
	}
	v, ok := e.Samples[i].Scores[metric]
	if !ok {
		return math.NaN()
	}
	return v
}

func all(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}
