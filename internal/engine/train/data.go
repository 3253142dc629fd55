package train

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/whetstone/whetstone/internal/engine/nn"
)

// Example is one tokenised training sample.
type Example struct {
	IDs []int32
	// Train marks the tokens that contribute loss (false for prompt tokens).
	// Nil means every token does.
	Train []bool
}

// Tokenizer is what LoadJSONL needs from internal/tokenizer.
type Tokenizer interface {
	Encode(text string, addSpecial bool) []int
	EOS() (int, bool)
}

// ChatTokenizer also renders chat rows with an assistant mask.
type ChatTokenizer interface {
	Tokenizer
	EncodeChatMask(messages []map[string]any) (ids []int, assistantMask []bool, err error)
}

// row is one JSONL line written by the preprocess agent.
type row struct {
	Text     string           `json:"text"`
	Prompt   *string          `json:"prompt"`
	Messages []map[string]any `json:"messages"`
	Chosen   *string          `json:"chosen"`
	Rejected *string          `json:"rejected"`
}

// LoadJSONL reads a JSONL file of {"text", optional "prompt"} rows (prompt
// tokens get no loss) or {"messages"} chat rows (only assistant tokens get
// loss; needs a ChatTokenizer). addEOS appends the tokenizer's EOS to text
// rows that lack it. Errors name the file and line.
func LoadJSONL(path string, tok Tokenizer, addEOS bool) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load dataset: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var out []Example
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		ex, err := EncodeRow(b, tok, addEOS)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if len(ex.IDs) < 2 {
			continue
		}
		out = append(out, ex)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", path, ErrNoData)
	}
	return out, nil
}

// EncodeRow tokenises one JSONL line as LoadJSONL does: the token ids and
// which of them get loss (Train nil: all). Rows of fewer than 2 tokens
// (which LoadJSONL skips) are returned as they are.
func EncodeRow(b []byte, tok Tokenizer, addEOS bool) (Example, error) {
	eos, hasEOS := tok.EOS()
	var r row
	if err := json.Unmarshal(b, &r); err != nil {
		return Example{}, err
	}
	var ex Example
	switch {
	case len(r.Messages) > 0:
		ct, ok := tok.(ChatTokenizer)
		if !ok {
			return Example{}, fmt.Errorf("field messages: tokenizer cannot render chats")
		}
		ids, mask, err := ct.EncodeChatMask(r.Messages)
		if err != nil {
			return Example{}, fmt.Errorf("field messages: %w", err)
		}
		ex.IDs, ex.Train = toInt32(ids), mask
	case r.Text != "":
		ids := tok.Encode(r.Text, true)
		if addEOS && hasEOS && (len(ids) == 0 || ids[len(ids)-1] != eos) {
			ids = append(ids, eos)
		}
		ex.IDs = toInt32(ids)
		if r.Prompt != nil && *r.Prompt != "" {
			p := tok.Encode(*r.Prompt, true)
			n := 0
			for n < len(p) && n < len(ids) && p[n] == ids[n] {
				n++
			}
			ex.Train = make([]bool, len(ids))
			for i := n; i < len(ids); i++ {
				ex.Train[i] = true
			}
		}
	default:
		return Example{}, fmt.Errorf("row has neither text nor messages")
	}
	return ex, nil
}

// LoadPairsJSONL reads preference rows {"prompt", "chosen", "rejected"}
// (the preprocess agent writes them for preference data, the chat template
// already applied): each response is tokenised after its prompt, and only
// the response tokens count. addEOS appends the tokenizer's EOS to
// responses that lack it. Errors name the file, line and field.
func LoadPairsJSONL(path string, tok Tokenizer, addEOS bool) ([]Pair, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load dataset: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var out []Pair
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var r row
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		switch {
		case r.Chosen == nil:
			return nil, fmt.Errorf("%s:%d: field chosen: missing (not a preference row)", path, line)
		case r.Rejected == nil:
			return nil, fmt.Errorf("%s:%d: field rejected: missing (not a preference row)", path, line)
		}
		prompt := ""
		if r.Prompt != nil {
			prompt = *r.Prompt
		}
		p := Pair{Chosen: encodeResponse(tok, prompt, *r.Chosen, addEOS), Rejected: encodeResponse(tok, prompt, *r.Rejected, addEOS)}
		if countTrained(p.Chosen) == 0 || countTrained(p.Rejected) == 0 {
			return nil, fmt.Errorf("%s:%d: field chosen/rejected: an empty response", path, line)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", path, ErrNoData)
	}
	return out, nil
}

// encodeResponse tokenises prompt+response and marks the tokens past the
// prompt's as trained.
func encodeResponse(tok Tokenizer, prompt, response string, addEOS bool) Example {
	ids := tok.Encode(prompt+response, true)
	if eos, ok := tok.EOS(); addEOS && ok && (len(ids) == 0 || ids[len(ids)-1] != eos) {
		ids = append(ids, eos)
	}
	p := tok.Encode(prompt, true)
	n := 0
	for n < len(p) && n < len(ids) && p[n] == ids[n] {
		n++
	}
	ex := Example{IDs: toInt32(ids), Train: make([]bool, len(ids))}
	for i := max(n, 1); i < len(ids); i++ {
		ex.Train[i] = true
	}
	return ex
}

func countTrained(ex Example) int {
	n := 0
	for _, t := range ex.Train {
		if t {
			n++
		}
	}
	return n
}

// ErrNoData is returned for a dataset without usable rows.
var ErrNoData = errors.New("no examples with at least two tokens")

func toInt32(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, v := range ids {
		out[i] = int32(v)
	}
	return out
}

// seq is one row of a batch: one example, or several packed.
type seq struct {
	ids, labels, pos, seg []int32
}

// labelsOf returns next-token labels of ex truncated to n tokens.
func labelsOf(ex Example, n int) []int32 {
	l := make([]int32, n)
	for t := 0; t < n; t++ {
		if t+1 < n && (ex.Train == nil || ex.Train[t+1]) {
			l[t] = ex.IDs[t+1]
		} else {
			l[t] = nn.IgnoreIndex
		}
	}
	return l
}

// buildSeqs turns examples (in order) into rows of at most maxLen tokens,
// truncating long examples, and packing several per row when pack is set.
func buildSeqs(exs []Example, order []int, maxLen int, pack bool) []seq {
	var out []seq
	var cur seq
	flush := func() {
		if len(cur.ids) > 0 {
			out = append(out, cur)
		}
		cur = seq{}
	}
	for _, i := range order {
		ex := exs[i]
		n := min(len(ex.IDs), maxLen)
		if !pack || len(cur.ids)+n > maxLen {
			flush()
		}
		start := int32(len(cur.ids))
		cur.ids = append(cur.ids, ex.IDs[:n]...)
		cur.labels = append(cur.labels, labelsOf(ex, n)...)
		for t := 0; t < n; t++ {
			cur.pos = append(cur.pos, int32(t))
			cur.seg = append(cur.seg, start)
		}
	}
	flush()
	return out
}

// epochOrder is the shuffled example order of epoch e.
func epochOrder(n int, seed uint64, epoch int) []int {
	r := rand.New(rand.NewPCG(seed, 0xe90c+uint64(epoch)))
	return r.Perm(n)
}
