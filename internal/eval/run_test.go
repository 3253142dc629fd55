package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// wordTok is a word-level tokenizer for tests: id 1 is BOS, 2 is EOS "</s>".
type wordTok struct{ ids map[string]int }

func newWordTok() *wordTok { return &wordTok{ids: map[string]int{"<s>": 1, "</s>": 2}} }

func (t *wordTok) Encode(s string, special bool) []int {
	var out []int
	if special {
		out = append(out, 1)
	}
	for _, w := range strings.Fields(s) {
		id, ok := t.ids[w]
		if !ok {
			id = len(t.ids) + 1
			t.ids[w] = id
		}
		out = append(out, id)
	}
	return out
}

func (t *wordTok) Decode(ids []int, skip bool) string {
	var ws []string
	for _, id := range ids {
		if skip && id <= 2 {
			continue
		}
		for w, j := range t.ids {
			if j == id {
				ws = append(ws, w)
			}
		}
	}
	return strings.Join(ws, " ")
}

func (t *wordTok) EOS() (int, bool) { return 2, true }

// fakeModel answers each prompt with answers[prompt] (or the prompt's last
// word) and charges perToken loss per counted token.
type fakeModel struct {
	tok      *wordTok
	answers  map[string]string
	perToken float64
	calls    int
}

func (m *fakeModel) Loss(_ context.Context, ids, labels []int) (float64, int, error) {
	if len(ids) != len(labels) {
		return 0, 0, fmt.Errorf("ids %d labels %d", len(ids), len(labels))
	}
	n := 0
	for _, l := range labels {
		if l != IgnoreIndex {
			n++
		}
	}
	return m.perToken * float64(n), n, nil
}

func (m *fakeModel) Generate(_ context.Context, prompt []int, opt GenerateOptions) ([]int, error) {
	m.calls++
	p := m.tok.Decode(prompt, true)
	ans, ok := m.answers[p]
	if !ok {
		ws := strings.Fields(p)
		ans = ws[len(ws)-1]
	}
	out := append(m.tok.Encode(ans, false), 2)
	if len(out) > opt.MaxNewTokens {
		out = out[:opt.MaxNewTokens]
	}
	if i := slices.Index(out, 2); i >= 0 && slices.Contains(opt.Stop, 2) {
		out = out[:i]
	}
	return out, nil
}

func testRows() []Row {
	var rows []Row
	for i := range 30 {
		p := fmt.Sprintf("Question %d: what colour is thing %d ?", i, i%3)
		a := []string{"red", "green", "blue"}[i%3]
		rows = append(rows, Row{Prompt: p, Text: p + " " + a + " </s>"})
	}
	return rows
}

func TestEvaluateAndCompare(t *testing.T) {
	t.Parallel()
	tok := newWordTok()
	rows := testRows()
	oracle := map[string]string{}
	for _, r := range rows {
		oracle[r.Prompt] = r.Reference("</s>")
	}
	// Base answers right on a third of the rows ("?" otherwise); tuned on all.
	baseAns := map[string]string{}
	for i, r := range rows {
		if i%3 == 0 {
			baseAns[r.Prompt] = r.Reference("</s>")
		}
	}
	base := &fakeModel{tok: tok, answers: baseAns, perToken: 2.0}
	tuned := &fakeModel{tok: tok, answers: oracle, perToken: 0.5}
	metrics := []string{MetricLoss, MetricPerplexity, MetricExactMatch, MetricTokenF1, MetricRougeL, MetricBLEU, MetricAccuracy, MetricMacroF1}
	var fracs []float64
	opt := Options{Metrics: metrics, MaxNewTokens: 8, Samples: 20, Seed: 3,
		Progress: func(f float64, _ time.Duration, _ string) { fracs = append(fracs, f) }}
	et, err := Evaluate(t.Context(), tuned, tok, rows, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(et.Samples) != 20 || len(et.Loss) != 30 || tuned.calls != 20 {
		t.Fatalf("samples %d, loss rows %d, generate calls %d", len(et.Samples), len(et.Loss), tuned.calls)
	}
	if !slices.IsSorted(fracs) || fracs[len(fracs)-1] != 1 {
		t.Errorf("progress fractions not increasing to 1: %v", fracs)
	}
	for _, name := range []string{MetricExactMatch, MetricTokenF1, MetricRougeL, MetricAccuracy, MetricMacroF1} {
		if et.Results[name] != 1 {
			t.Errorf("tuned %s = %v, want 1 (oracle answers)", name, et.Results[name])
		}
	}
	// One-word answers have no bigrams: corpus BLEU is 0 by definition.
	if et.Results[MetricLoss] != 0.5 || !near(et.Results[MetricPerplexity], math.Exp(0.5)) {
		t.Errorf("tuned loss %v perplexity %v", et.Results[MetricLoss], et.Results[MetricPerplexity])
	}
	// The answer tokens are the word and EOS: 2 per row.
	if et.Loss[0].Tokens != 2 {
		t.Errorf("row 0 counts %d loss tokens, want 2 (answer word and EOS)", et.Loss[0].Tokens)
	}

	opt.SampleIndices = et.SampleIndices
	eb, err := Evaluate(t.Context(), base, tok, rows, opt)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compare(eb, et, CompareOptions{Resamples: 300, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if c.Primary != MetricRougeL {
		t.Errorf("primary %q, want rouge_l", c.Primary)
	}
	byName := map[string]MetricComparison{}
	for _, m := range c.Metrics {
		byName[m.Name] = m
	}
	em := byName[MetricExactMatch]
	wantWins := 0
	for _, i := range et.SampleIndices {
		if i%3 != 0 {
			wantWins++
		}
	}
	if em.Wins != wantWins || em.Ties != 20-wantWins || em.Losses != 0 {
		t.Errorf("exact_match win/tie/loss %d/%d/%d, want %d/%d/0", em.Wins, em.Ties, em.Losses, wantWins, 20-wantWins)
	}
	if !em.Improved || !em.Significant || em.Delta.Lo <= 0 {
		t.Errorf("exact_match delta %+v should be significantly positive", em.Delta)
	}
	l := byName[MetricLoss]
	if !near(l.Delta.Estimate, -1.5) || l.Wins != 30 || !l.Improved || !l.LowerIsBetter {
		t.Errorf("loss comparison %+v", l)
	}
	// Constant per-token losses: every resample gives the same delta.
	if !near(l.Delta.Lo, -1.5) || !near(l.Delta.Hi, -1.5) {
		t.Errorf("loss delta CI [%v, %v], want exactly -1.5", l.Delta.Lo, l.Delta.Hi)
	}
	wins := 0
	for _, s := range c.Samples {
		if s.Outcome == Win {
			wins++
		}
	}
	if wins != wantWins {
		t.Errorf("%d sample wins on primary, want %d", wins, wantWins)
	}

	// JSON round trip.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Comparison
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Metrics[0].Delta != c.Metrics[0].Delta {
		t.Errorf("delta after JSON round trip %+v, want %+v", back.Metrics[0].Delta, c.Metrics[0].Delta)
	}

	// HTML: one well-formed, self-contained document.
	c.History = []HistoryPoint{{Step: 1, Loss: ptr(3.0)}, {Step: 2, Loss: ptr(2.0)}, {Step: 3, Loss: ptr(1.5), EvalLoss: ptr(1.7)}}
	c.Samples[0].TunedOutput = `<script>alert("x")</script> & more` + "\x02\x1b[0m"
	var buf bytes.Buffer
	if err := WriteHTML(&buf, c); err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, buf.Bytes())
	html := buf.String()
	for _, want := range []string{"<svg", "<polyline", "exact_match", "&lt;script&gt;", "<ins>", "row " + fmt.Sprint(c.Samples[0].Index)} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Error("HTML contains an unescaped <script> from a model output")
	}
	if dir := os.Getenv("EVAL_HTML_OUT"); dir != "" {
		os.WriteFile(filepath.Join(dir, "comparison.html"), buf.Bytes(), 0o644)
	}
}

func ptr(v float64) *float64 { return &v }

// checkSelfContained parses doc as XML (the page is written as well-formed
// XHTML-compatible HTML) and fails on scripts, external links or anything
// loaded by URL.
func checkSelfContained(t *testing.T, doc []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	elems := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("HTML is not well-formed: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		elems++
		switch se.Name.Local {
		case "script", "link", "img", "iframe", "object", "embed":
			t.Errorf("page has a <%s> element", se.Name.Local)
		}
		for _, a := range se.Attr {
			if a.Name.Local == "xmlns" || a.Name.Space == "xmlns" {
				continue
			}
			if strings.Contains(a.Value, "://") || strings.HasPrefix(a.Name.Local, "on") {
				t.Errorf("<%s %s=%q> refers outside the page", se.Name.Local, a.Name.Local, a.Value)
			}
		}
	}
	if elems < 50 {
		t.Errorf("only %d elements in the page", elems)
	}
	if bytes.Contains(doc, []byte("@import")) || bytes.Contains(doc, []byte("url(")) {
		t.Error("CSS loads something by URL")
	}
}

func TestPickSamples(t *testing.T) {
	t.Parallel()
	a, b := PickSamples(100, 10, 4), PickSamples(100, 10, 4)
	if !slices.Equal(a, b) || len(a) != 10 || !slices.IsSorted(a) {
		t.Errorf("PickSamples: %v and %v", a, b)
	}
	if slices.Equal(a, PickSamples(100, 10, 5)) {
		t.Error("different seeds gave the same samples")
	}
	if got := PickSamples(5, 10, 1); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("PickSamples(5, 10) = %v", got)
	}
	if got := PickSamples(5, 0, 1); len(got) != 0 {
		t.Errorf("PickSamples(5, 0) = %v", got)
	}
}

func TestReadRowsErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct{ name, body, want string }{
		{"bad json", "{\"text\": \"a\"}\n{oops\n", "validation.jsonl:2:"},
		{"no text", "{\"prompt\": \"a\"}\n", `validation.jsonl:1: field "text"`},
		{"prompt not prefix", "{\"text\": \"abc\", \"prompt\": \"x\"}\n", `validation.jsonl:1: field "prompt" is not a prefix`},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, tt.name, "validation.jsonl")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(tt.body), 0o644)
		_, err := ReadRows(p)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestReadHistory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	jl := filepath.Join(dir, "history.jsonl")
	os.WriteFile(jl, []byte(`{"step":1,"loss":2.5,"learning_rate":0.001}
{"step":2,"loss":2.0}
{"step":2,"val_loss":2.2}
{"step":3,"grad_norm":1}
`), 0o644)
	h, err := ReadHistory(jl)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || *h[1].Loss != 2.0 || *h[2].EvalLoss != 2.2 {
		t.Errorf("history %+v", h)
	}
	if FindHistory(dir) != jl {
		t.Errorf("FindHistory = %q", FindHistory(dir))
	}
	st := filepath.Join(dir, "trainer_state.json")
	os.WriteFile(st, []byte(`{"log_history":[{"step":10,"loss":1.5},{"step":10,"eval_loss":1.7}]}`), 0o644)
	h, err = ReadHistory(st)
	if err != nil || len(h) != 2 || h[0].Step != 10 {
		t.Errorf("trainer_state: %+v, %v", h, err)
	}
	arr := filepath.Join(dir, "history.json")
	os.WriteFile(arr, []byte(`[{"step":1,"epoch":0.1,"loss":3.5,"learning_rate":0.001,"grad_norm":1.2,"tokens":100,"tokens_per_s":50},
 {"step":2,"epoch":0.2,"loss":3.1,"learning_rate":0.001,"grad_norm":1.1,"tokens":100,"tokens_per_s":50,"val_loss":3.3}]`), 0o644)
	h, err = ReadHistory(arr)
	if err != nil || len(h) != 2 || *h[1].EvalLoss != 3.3 || *h[0].Loss != 3.5 {
		t.Errorf("train agent history.json: %+v, %v", h, err)
	}
	if FindHistory(dir) != arr {
		t.Errorf("FindHistory = %q, want history.json first", FindHistory(dir))
	}
	os.WriteFile(jl, []byte("{\"step\":1,\"loss\":1}\nnot json\n"), 0o644)
	if _, err := ReadHistory(jl); err == nil || !strings.Contains(err.Error(), "history.jsonl:2") {
		t.Errorf("bad history error %v", err)
	}
}
