// Package synth generates synthetic instruction datasets for benchmarks and
// tests: Alpaca records of English-like text with a known share of exact
// duplicates, near duplicates and planted personal data.
package synth

import (
	"bufio"
	"encoding/json"
	"io"
	"math/rand/v2"
	"strings"
)

// Options configure Write.
type Options struct {
	Bytes int64  // approximate output size
	Seed  uint64 // generator seed
	// Rates of planted rows (fractions of all rows). Defaults: 2% exact
	// duplicates, 1% near duplicates, 1% rows with personal data.
	DupRate, NearRate, PIIRate float64
}

// Counts are what Write planted.
type Counts struct {
	Rows, Duplicates, NearDuplicates, PII int
	Bytes                                 int64
}

var syllables = strings.Fields("ka lo ren ta mi so ver an te li pro con dis ment ing tion er al ous ble com pre sen " +
	"ra de ne ma ri st or ex im un at in re co fa ge ha jo ku lu mo nu po qu sa tu vi wa ya ze")

// vocabulary returns n distinct pseudo-words with a Zipf-like frequency
// order (shorter words first).
func vocabulary(r *rand.Rand, n int) []string {
	seen := map[string]bool{}
	var out []string
	common := strings.Fields("the of and to a in is it that for on with as was be by this are or from at an not have which")
	for _, w := range common {
		seen[w] = true
		out = append(out, w)
	}
	for len(out) < n {
		k := 1 + r.IntN(3)
		var b strings.Builder
		for range k {
			b.WriteString(syllables[r.IntN(len(syllables))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

type gen struct {
	r     *rand.Rand
	vocab []string
	zipf  *rand.Zipf
}

func (g *gen) sentence(words int) string {
	var b strings.Builder
	for i := range words {
		w := g.vocab[int(g.zipf.Uint64())%len(g.vocab)]
		if i == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		} else {
			b.WriteByte(' ')
		}
		b.WriteString(w)
		if i > 0 && i < words-1 && g.r.IntN(12) == 0 {
			b.WriteByte(',')
		}
		if g.r.IntN(40) == 0 {
			b.WriteString(" " + string(rune('0'+g.r.IntN(10))) + string(rune('0'+g.r.IntN(10))))
		}
	}
	b.WriteByte('.')
	return b.String()
}

func (g *gen) paragraph(sentences int) string {
	var parts []string
	for range sentences {
		parts = append(parts, g.sentence(6+g.r.IntN(14)))
	}
	return strings.Join(parts, " ")
}

var piiSnippets = []string{
	"Contact me at jordan.smith@example.com for details.",
	"Call (555) 201-3344 after five.",
	"My card is 4111 1111 1111 1111.",
	"Wire it to DE89 3704 0044 0532 0130 00 please.",
	"His SSN is 123-45-6789.",
	"The server is at 10.20.30.40 now.",
	"Use key AKIAIOSFODNN7EXAMPLE to sign.",
}

type alpaca struct {
	Instruction string `json:"instruction"`
	Input       string `json:"input"`
	Output      string `json:"output"`
}

// Write writes Alpaca records as JSONL (the dataset agent's canonical
// layout) until about o.Bytes bytes are written.
func Write(w io.Writer, o Options) (Counts, error) {
	if o.DupRate == 0 {
		o.DupRate = 0.02
	}
	if o.NearRate == 0 {
		o.NearRate = 0.01
	}
	if o.PIIRate == 0 {
		o.PIIRate = 0.01
	}
	r := rand.New(rand.NewPCG(o.Seed, 0xda7a))
	g := &gen{r: r, vocab: vocabulary(r, 5000)}
	g.zipf = rand.NewZipf(r, 1.1, 2, uint64(len(g.vocab)-1))
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var c Counts
	var recent []alpaca // a window of earlier rows to copy from
	cw := &countWriter{w: bw}
	enc = json.NewEncoder(cw)
	enc.SetEscapeHTML(false)
	for cw.n < o.Bytes {
		var rec alpaca
		p := r.Float64()
		switch {
		case p < o.DupRate && len(recent) > 0:
			rec = recent[r.IntN(len(recent))]
			c.Duplicates++
		case p < o.DupRate+o.NearRate && len(recent) > 0:
			// One word changed in 100 or more: Jaccard similarity of word
			// 3-grams at least 0.94. Shorter rows are copied exactly.
			rec = recent[r.IntN(len(recent))]
			words := strings.Fields(rec.Output)
			if len(words) >= 100 {
				words[len(words)/2] = "changed"
				rec.Output = strings.Join(words, " ")
				c.NearDuplicates++
			} else {
				c.Duplicates++
			}
		default:
			rec = alpaca{Instruction: g.sentence(8 + r.IntN(10)), Output: g.paragraph(3 + r.IntN(8))}
			if r.IntN(3) == 0 {
				rec.Input = g.paragraph(1 + r.IntN(3))
			}
			if r.Float64() < o.PIIRate/(1-o.DupRate-o.NearRate) {
				rec.Output += " " + piiSnippets[r.IntN(len(piiSnippets))]
				c.PII++
			}
			if len(recent) < 1000 {
				recent = append(recent, rec)
			} else {
				recent[r.IntN(len(recent))] = rec
			}
		}
		if err := enc.Encode(&rec); err != nil {
			return c, err
		}
		c.Rows++
	}
	c.Bytes = cw.n
	return c, bw.Flush()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
