package eval

import (
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Metric names accepted by the evaluate agent's metrics param.
const (
	MetricLoss       = "loss"
	MetricPerplexity = "perplexity"
	MetricExactMatch = "exact_match"
	MetricTokenF1    = "token_f1"
	MetricRougeL     = "rouge_l"
	MetricBLEU       = "bleu"
	MetricAccuracy   = "accuracy"
	MetricMacroF1    = "macro_f1"
	MetricJudge      = "judge"
)

// AllMetrics lists every metric name, in report order.
var AllMetrics = []string{MetricLoss, MetricPerplexity, MetricExactMatch, MetricTokenF1,
	MetricRougeL, MetricBLEU, MetricAccuracy, MetricMacroF1, MetricJudge}

// LowerIsBetter reports whether a smaller value of metric is better (loss and
// perplexity).
func LowerIsBetter(metric string) bool {
	return metric == MetricLoss || metric == MetricPerplexity
}

// IsGenerationMetric reports whether metric scores generated outputs (as
// opposed to loss and perplexity, which score the validation split).
func IsGenerationMetric(metric string) bool {
	return metric != MetricLoss && metric != MetricPerplexity && slices.Contains(AllMetrics, metric)
}

var articles = regexp.MustCompile(`\b(a|an|the)\b`)

// NormalizeAnswer is SQuAD's normalize_answer: lower-case, drop ASCII
// punctuation, drop the articles a/an/the, and collapse white space.
func NormalizeAnswer(s string) string {
	s = strings.ToLower(s)
	s = strings.Map(func(r rune) rune {
		if r < 128 && unicode.IsPunct(r) || r < 128 && unicode.IsSymbol(r) {
			return -1
		}
		return r
	}, s)
	s = articles.ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(s), " ")
}

// ExactMatch is 1 when prediction and reference are equal after
// NormalizeAnswer, else 0 (SQuAD's exact match).
func ExactMatch(pred, ref string) float64 {
	if NormalizeAnswer(pred) == NormalizeAnswer(ref) {
		return 1
	}
	return 0
}

// TokenF1 is SQuAD's token-level F1 between the bags of words of prediction
// and reference after NormalizeAnswer. When either side has no tokens it is 1
// if both are empty, else 0.
func TokenF1(pred, ref string) float64 {
	p := strings.Fields(NormalizeAnswer(pred))
	r := strings.Fields(NormalizeAnswer(ref))
	if len(p) == 0 || len(r) == 0 {
		if len(p) == len(r) {
			return 1
		}
		return 0
	}
	counts := map[string]int{}
	for _, t := range r {
		counts[t]++
	}
	same := 0
	for _, t := range p {
		if counts[t] > 0 {
			counts[t]--
			same++
		}
	}
	if same == 0 {
		return 0
	}
	prec := float64(same) / float64(len(p))
	rec := float64(same) / float64(len(r))
	return 2 * prec * rec / (prec + rec)
}

var nonAlnum = regexp.MustCompile(`[^a-z0-9]+`)

// RougeTokens tokenizes as Google's rouge_score does by default: lower-case,
// every run of characters other than a-z and 0-9 becomes a separator.
func RougeTokens(s string) []string {
	return strings.Fields(nonAlnum.ReplaceAllString(strings.ToLower(s), " "))
}

// RougeL is the ROUGE-L F-measure (beta 1) of prediction against reference:
// with L the length of their longest common token subsequence, precision is
// L/len(pred), recall L/len(ref), and the score 2PR/(P+R). It is 0 when
// either side has no tokens. Tokens come from RougeTokens.
func RougeL(pred, ref string) float64 {
	p, r := RougeTokens(pred), RougeTokens(ref)
	if len(p) == 0 || len(r) == 0 {
		return 0
	}
	l := lcs(p, r)
	if l == 0 {
		return 0
	}
	prec := float64(l) / float64(len(p))
	rec := float64(l) / float64(len(r))
	return 2 * prec * rec / (prec + rec)
}

// lcs returns the length of the longest common subsequence of a and b, in
// O(len(a)·len(b)) time and O(len(b)) memory.
func lcs(a, b []string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := range a {
		for j := range b {
			switch {
			case a[i] == b[j]:
				cur[j+1] = prev[j] + 1
			case prev[j+1] >= cur[j]:
				cur[j+1] = prev[j+1]
			default:
				cur[j+1] = cur[j]
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// BLEUTokens tokenizes for BLEU: lower-case, then runs of letters, digits and
// underscores are words and every other non-space character is a token of
// its own (Python's re.findall(r"\w+|[^\w\s]", s.lower())).
func BLEUTokens(s string) []string {
	s = strings.ToLower(s)
	var out []string
	start := -1
	for i, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.No, r) || r == '_' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, s[start:i])
			start = -1
		}
		if !unicode.IsSpace(r) {
			out = append(out, string(r))
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// BLEUOrder is the highest n-gram order of BLEU (BLEU-4, uniform weights).
const BLEUOrder = 4

// BLEUStats are one sample's sufficient statistics for BLEU: clipped n-gram
// matches and n-gram counts of the hypothesis per order (at least 1, as in
// NLTK), and the lengths.
// Summing stats over samples and calling Score gives corpus BLEU.
type BLEUStats struct {
	Matches [BLEUOrder]int `json:"matches"`
	Totals  [BLEUOrder]int `json:"totals"`
	HypLen  int            `json:"hyp_len"`
	RefLen  int            `json:"ref_len"`
}

// NewBLEUStats counts the statistics of hypothesis pred against the single
// reference ref, both tokenized with BLEUTokens.
func NewBLEUStats(pred, ref string) BLEUStats {
	h, r := BLEUTokens(pred), BLEUTokens(ref)
	s := BLEUStats{HypLen: len(h), RefLen: len(r)}
	for n := 1; n <= BLEUOrder; n++ {
		refCounts := map[string]int{}
		for i := 0; i+n <= len(r); i++ {
			refCounts[strings.Join(r[i:i+n], "\x00")]++
		}
		for i := 0; i+n <= len(h); i++ {
			g := strings.Join(h[i:i+n], "\x00")
			if refCounts[g] > 0 {
				refCounts[g]--
				s.Matches[n-1]++
			}
			s.Totals[n-1]++
		}
		// NLTK's modified_precision counts at least one n-gram per sentence
		// (its denominator is max(1, count)), which also shapes corpus BLEU.
		s.Totals[n-1] = max(1, s.Totals[n-1])
	}
	return s
}

// Add returns the element-wise sum of s and o.
func (s BLEUStats) Add(o BLEUStats) BLEUStats {
	for i := range s.Matches {
		s.Matches[i] += o.Matches[i]
		s.Totals[i] += o.Totals[i]
	}
	s.HypLen += o.HypLen
	s.RefLen += o.RefLen
	return s
}

// Score is BLEU-4 with uniform weights and the brevity penalty, as NLTK's
// corpus_bleu computes it: 0 when no unigram matches. Without smoothing, an
// order with no matches makes the score 0. With smooth, such an order's
// precision is 0.1/count instead (NLTK's SmoothingFunction().method1), which
// is what per-sample (sentence) BLEU uses.
func (s BLEUStats) Score(smooth bool) float64 {
	if s.Matches[0] == 0 || s.HypLen == 0 {
		return 0
	}
	logSum := 0.0
	for n := range BLEUOrder {
		den := float64(max(1, s.Totals[n]))
		num := float64(s.Matches[n])
		if num == 0 {
			if !smooth {
				return 0
			}
			num = 0.1
		}
		logSum += math.Log(num/den) / BLEUOrder
	}
	bp := 1.0
	if s.HypLen < s.RefLen {
		bp = math.Exp(1 - float64(s.RefLen)/float64(s.HypLen))
	}
	return bp * math.Exp(logSum)
}

// SentenceBLEU is the smoothed BLEU-4 of one prediction against one reference
// (NLTK's sentence_bleu with SmoothingFunction().method1).
func SentenceBLEU(pred, ref string) float64 {
	return NewBLEUStats(pred, ref).Score(true)
}

// CorpusBLEU is the unsmoothed corpus-level BLEU-4 of predictions against
// references (NLTK's corpus_bleu with one reference each). It panics if the
// slices differ in length.
func CorpusBLEU(preds, refs []string) float64 {
	if len(preds) != len(refs) {
		panic("eval.CorpusBLEU: preds and refs differ in length")
	}
	var s BLEUStats
	for i := range preds {
		s = s.Add(NewBLEUStats(preds[i], refs[i]))
	}
	return s.Score(false)
}

// ClassLabel extracts a class label from a generated or reference answer for
// the classification metrics: its first non-empty line, lower-cased, trimmed
// of white space and of the punctuation . , ; : ! ? " ' around it.
func ClassLabel(s string) string {
	for line := range strings.Lines(s) {
		l := strings.Trim(strings.ToLower(line), " \t\r\n.,;:!?\"'")
		if l != "" {
			return l
		}
	}
	return ""
}

// Accuracy is the fraction of positions where pred and ref are equal
// (labels already extracted, e.g. with ClassLabel). It is 0 for no input.
func Accuracy(pred, ref []string) float64 {
	if len(pred) == 0 {
		return 0
	}
	ok := 0
	for i := range pred {
		if pred[i] == ref[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(pred))
}

// MacroF1 is the unweighted mean over classes of each class's F1, as
// scikit-learn's f1_score(ref, pred, average="macro") computes it: the
// classes are the union of reference and predicted labels, and a class
// whose precision or recall is undefined (0/0) gets 0 for it. It is 0 for no
// input.
func MacroF1(pred, ref []string) float64 {
	if len(pred) == 0 {
		return 0
	}
	type counts struct{ tp, fp, fn int }
	cs := map[string]*counts{}
	get := func(l string) *counts {
		c := cs[l]
		if c == nil {
			c = &counts{}
			cs[l] = c
		}
		return c
	}
	for i := range pred {
		if pred[i] == ref[i] {
			get(pred[i]).tp++
			continue
		}
		get(pred[i]).fp++
		get(ref[i]).fn++
	}
	sum := 0.0
	for _, c := range cs {
		var p, r float64
		if c.tp+c.fp > 0 {
			p = float64(c.tp) / float64(c.tp+c.fp)
		}
		if c.tp+c.fn > 0 {
			r = float64(c.tp) / float64(c.tp+c.fn)
		}
		if p+r > 0 {
			sum += 2 * p * r / (p + r)
		}
	}
	return sum / float64(len(cs))
}
