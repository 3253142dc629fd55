package prep

import (
	"encoding/json"

	"github.com/whetstone/whetstone/internal/data/template"
)

// MaskFunc tokenises a row as the trainer will (the row as written to
// train.jsonl): its token ids and which get loss (nil: all).
type MaskFunc func(row []byte) (ids []int, train []bool, err error)

// The reasons a row's assistant turns get no trained tokens.
const (
	// NoTrainedCut: the trained tokens all lie past max_tokens.
	NoTrainedCut = "cut_by_max_tokens"
	// NoTrainedMask: the template and masking leave no token trained (a
	// chat template whose assistant turns cannot be found).
	NoTrainedMask = "no_trained_tokens"
)

// MaskPreview is the loss mask of sample rows, and the rows whose
// assistant turns get no trained tokens.
type MaskPreview struct {
	// Rows are the first Options.MaskPreview rows written, token by token.
	Rows []MaskRow `json:"rows"`
	// Window is the tokens a row is cut to (max_tokens; 0: none).
	Window int `json:"window"`
	// NoTrainedTokens counts rows (written or dropped) whose prompt/answer
	// rows leave no token trained within Window; NoTrained lists the
	// first 100.
	NoTrainedTokens int         `json:"no_trained_tokens"`
	NoTrained       []NoTrained `json:"rows_without_trained_tokens"`
}

// MaskRow is one row's tokens after templating and masking.
type MaskRow struct {
	Line    int         `json:"source_line"`
	Trained int         `json:"trained"`
	Tokens  []MaskToken `json:"tokens"`
}

// MaskToken is one token: its id, its text and whether it gets loss.
type MaskToken struct {
	ID      int    `json:"id"`
	Text    string `json:"text"`
	Trained bool   `json:"trained"`
}

// NoTrained is a row whose assistant turns get no trained tokens.
type NoTrained struct {
	Line   int    `json:"source_line"`
	Reason string `json:"reason"`
	Tokens int    `json:"tokens"`
}

// rowMask is the mask of one templated row, computed by a worker.
type rowMask struct {
	ids     []int
	trained []bool // per token, within the window
	n       int    // trained tokens within the window
	reason  string // NoTrainedCut or NoTrainedMask when n == 0
}

// maskRow masks row as the trainer will, cut to window tokens (0: none):
// token i gets loss when 1 ≤ i < window and the trainer's mask marks it
// (the first token has nothing to be predicted from). Rows without a
// prompt (raw text, every token trained) are not masked: nil.
func maskRow(row *template.Row, f MaskFunc, window int) *rowMask {
	if row.Prompt == "" && len(row.Messages) == 0 {
		return nil
	}
	b, err := json.Marshal(row)
	if err != nil {
		return nil
	}
	ids, train, err := f(b)
	if err != nil {
		return &rowMask{ids: ids, reason: NoTrainedMask}
	}
	m := &rowMask{ids: ids, trained: make([]bool, len(ids))}
	any := false
	for i := 1; i < len(ids); i++ {
		t := train == nil || train[i]
		any = any || t
		if t && (window <= 0 || i < window) {
			m.trained[i] = true
			m.n++
		}
	}
	switch {
	case m.n > 0:
	case any:
		m.reason = NoTrainedCut
	default:
		m.reason = NoTrainedMask
	}
	return m
}

// preview turns a row's mask into tokens with their text.
func (m *rowMask) preview(line int, tok Tokenizer) MaskRow {
	r := MaskRow{Line: line, Trained: m.n, Tokens: make([]MaskToken, len(m.ids))}
	for i, id := range m.ids {
		t := MaskToken{ID: id, Trained: i < len(m.trained) && m.trained[i]}
		if tok != nil {
			t.Text = tok.Decode([]int{id}, false)
		}
		r.Tokens[i] = t
	}
	return r
}
