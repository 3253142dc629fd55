// Package prep turns a stream of records into training files: cleaning,
// PII redaction, chunking of long raw text, templating, token-length
// filtering, exact and near-duplicate removal and a seeded train/validation
// split, with statistics on every step.
//
// Records are processed in batches by a pool of workers (cleaning,
// redaction, templating and tokenisation run in parallel); deduplication
// and writing run in order, so the output does not depend on the number of
// workers. Memory is bounded: the processed rows go to a temporary file, and
// the split re-reads it.
package prep

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/data/clean"
	"github.com/whetstone/whetstone/internal/data/contam"
	"github.com/whetstone/whetstone/internal/data/dataset"
	"github.com/whetstone/whetstone/internal/data/dedup"
	"github.com/whetstone/whetstone/internal/data/ordered"
	"github.com/whetstone/whetstone/internal/data/pii"
	"github.com/whetstone/whetstone/internal/data/profile"
	"github.com/whetstone/whetstone/internal/data/progress"
	"github.com/whetstone/whetstone/internal/data/reader"
	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/data/template"
	wordhash "github.com/whetstone/whetstone/internal/data/words"
)

// Tokenizer is what prep needs from a tokenizer; *tokenizer.Tokenizer
// satisfies it.
type Tokenizer interface {
	template.ChatTemplater
	Encode(text string, addSpecial bool) []int
	Decode(ids []int, skipSpecial bool) string
	EOS() (int, bool)
}

// Options configure Run.
type Options struct {
	// Tokenizer counts tokens; without one, 4 bytes count as a token. The
	// chat template and chunking need it.
	Tokenizer Tokenizer
	// Template is alpaca, chat or none.
	Template string
	Clean    clean.Options
	// RedactPII replaces personal data and secrets with typed placeholders.
	RedactPII bool
	// Dedup is none, exact or near.
	Dedup         string
	NearThreshold float64 // defaults to dedup.DefaultThreshold
	// DedupBudget is the memory, in bytes, the duplicate indexes may use
	// before they spill to temporary files in the output folder (the
	// output is the same either way); defaults to dedup.DefaultBudget.
	DedupBudget int
	// MaxTokens drops rows longer than this (0: no limit); MinTokens drops
	// shorter ones.
	MaxTokens, MinTokens int
	// ChunkTokens splits raw-text records longer than this into chunks of
	// ChunkTokens tokens overlapping by ChunkOverlap (0: no chunking).
	ChunkTokens, ChunkOverlap int
	// ValidationSplit is the fraction of rows held out, chosen with Seed.
	ValidationSplit float64
	Seed            uint64
	// AppendEOS says the trainer appends the EOS token after Text (counted
	// in Row.Tokens). Templates that end turns themselves (chat) set it
	// false.
	AppendEOS bool
	Workers   int // defaults to GOMAXPROCS
	Emit      agent.Emitter
	// Contamination, when set, drops rows sharing a long word n-gram with
	// an evaluation row (decontaminate: true).
	Contamination *contam.Index
	// DecontaminateSplit, when positive, drops training rows sharing an
	// n-gram of that many words with a row of the validation split.
	DecontaminateSplit int
	// Mask, when set, tokenises rows as the trainer will: Stats.MaskPreview
	// then shows the loss mask of the first MaskPreview rows written and
	// counts the prompt/answer rows left with no trained token within
	// MaxTokens.
	Mask        MaskFunc
	MaskPreview int
}

// Stats are the preprocessing statistics.
type Stats struct {
	RowsIn         int              `json:"rows_in"`
	RowsOut        int              `json:"rows_out"`
	RowsTrain      int              `json:"rows_train"`
	RowsValidation int              `json:"rows_validation"`
	Dropped        map[string]int   `json:"dropped"`
	Chunked        int              `json:"records_chunked"`
	Chunks         int              `json:"chunks"`
	Cleaned        clean.Stats      `json:"cleaned"`
	Redacted       map[string]int   `json:"redacted"`
	Tokens         int64            `json:"tokens"`
	TokensTrain    int64            `json:"tokens_train"`
	TokensVal      int64            `json:"tokens_validation"`
	TokenStats     profile.Stats    `json:"token_lengths"`
	Histogram      []profile.Bucket `json:"token_histogram"`
	Template       string           `json:"template"`
	AppendEOS      bool             `json:"append_eos"`
	Format         string           `json:"format"`
	Seconds        float64          `json:"seconds"`
	BytesIn        int64            `json:"bytes_in"`
	// UnreadableLines lists source lines of unreadable records (first 20).
	UnreadableLines []int `json:"unreadable_lines,omitempty"`
	// Contaminated lists rows dropped for contamination (first 100): the
	// source line and the evaluation row (set "validation": a row of the
	// validation split, by its source line).
	Contaminated []Contaminated `json:"contaminated,omitempty"`
	// DecontaminateSplit says why the split was not decontaminated, when
	// asked and it could not be.
	DecontaminateSplit string `json:"decontaminate_split,omitempty"`
	// MaskPreview is the loss mask of sample rows (Options.Mask).
	MaskPreview *MaskPreview `json:"mask_preview,omitempty"`
}

// Contaminated is a dropped row and the evaluation row it overlaps.
type Contaminated struct {
	Line    int    `json:"source_line"`
	EvalSet string `json:"eval_set"`
	EvalRow int    `json:"eval_row"`
}

// The drop reasons.
const (
	DropUnreadable = "unreadable"
	DropMissing    = "missing_field"
	DropEmpty      = "empty"
	DropNoTarget   = "no_assistant_turn"
	DropTemplate   = "template_error"
	DropTooLong    = "too_long"
	DropTooShort   = "too_short"
	DropDuplicate  = "duplicate"
	DropNear       = "near_duplicate"
	// DropContaminated: shares an n-gram with an evaluation set's row.
	DropContaminated = "contaminated"
	// DropOverlapsValidation: a training row sharing an n-gram with a
	// validation row.
	DropOverlapsValidation = "overlaps_validation"
)

type item struct {
	rec    record.Record
	words  []uint64   // word hashes, for the split's decontamination
	contam contam.Ref // evaluation row overlapped (drop == DropContaminated)
	rows   []template.Row
	drop   string
	red    map[pii.Kind]int
	cl     clean.Stats
	chunks int
	mask   *rowMask // Options.Mask: the record's row as the trainer masks it
}

// Run processes s and writes train.jsonl and validation.jsonl to outDir.
func Run(ctx context.Context, s *dataset.Stream, outDir string, o Options) (Stats, error) {
	start := time.Now()
	if o.Template == "" {
		o.Template = template.None
	}
	if o.Tokenizer == nil && (o.ChunkTokens > 0 || o.Template == template.Chat) {
		return Stats{}, errors.New("preprocess: a tokenizer is needed for chunk_tokens and the chat template")
	}
	if o.ChunkTokens > 0 && o.ChunkOverlap >= o.ChunkTokens {
		return Stats{}, fmt.Errorf("chunk_overlap %d must be smaller than chunk_tokens %d", o.ChunkOverlap, o.ChunkTokens)
	}
	if o.ValidationSplit < 0 || o.ValidationSplit >= 1 {
		return Stats{}, fmt.Errorf("validation_split %v: want a value in [0, 1)", o.ValidationSplit)
	}
	workers := ordered.Workers(o.Workers)
	st := Stats{Dropped: map[string]int{}, Redacted: map[string]int{}, Template: o.Template, AppendEOS: o.AppendEOS,
		Format: string(s.Format()), BytesIn: s.Size()}

	var exact *dedup.Exact
	var near *dedup.Near
	switch o.Dedup {
	case "", "none":
	case "exact":
		exact = dedup.NewExact()
		defer exact.Close()
	case "near":
		exact = dedup.NewExact()
		defer exact.Close()
		var err error
		if near, err = dedup.NewNear(cmpOr(o.NearThreshold, dedup.DefaultThreshold), 0, outDir); err != nil {
			return st, err
		}
		defer near.Close()
	default:
		return st, fmt.Errorf("dedup %q: want none, exact or near", o.Dedup)
	}

	tmp, err := os.CreateTemp(outDir, "rows-*.jsonl")
	if err != nil {
		return st, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	tw := bufio.NewWriterSize(tmp, 1<<20)
	var side *sideFile // per written row: source line and n-grams
	var splitIdx *contam.Index
	if o.DecontaminateSplit > 0 && o.ValidationSplit > 0 {
		if splitIdx, err = contam.New(o.DecontaminateSplit); err != nil {
			return st, err
		}
		if side, err = newSideFile(outDir); err != nil {
			return st, err
		}
		defer side.close()
	}

	// Reader: batches in order; workers process them; consume takes them
	// in order (package ordered).
	read := func() (ordered.Batch[item], error) {
		b := ordered.Batch[item]{Items: make([]item, 0, 128)}
		for len(b.Items) < 128 {
			var it item
			err := s.Next(&it.rec)
			if err == io.EOF {
				break
			}
			if err != nil {
				var re *reader.Error
				if errors.As(err, &re) && !re.Fatal {
					it.drop = DropUnreadable
					it.rec.Line = re.Line
					b.Items = append(b.Items, it)
					continue
				}
				b.Offset = s.Offset()
				return b, err
			}
			b.Items = append(b.Items, it)
		}
		b.Offset = s.Offset()
		return b, nil
	}
	work := func(_ int, b *ordered.Batch[item]) {
		for i := range b.Items {
			process(&b.Items[i], &o)
		}
	}
	meter := progress.Meter{Emit: o.Emit, Total: s.Size(), Label: "preprocess"}
	var hist profile.Hist
	var lens []int32 // tokens of each row written, for the split
	var sp *spilled  // duplicate indexes spilled past DedupBudget
	nearN := 0       // rows added to near
	enc := json.NewEncoder(tw)
	enc.SetEscapeHTML(false)
	if o.Mask != nil {
		st.MaskPreview = &MaskPreview{Rows: []MaskRow{}, NoTrained: []NoTrained{}, Window: o.MaxTokens}
	}
	consume := func(b *ordered.Batch[item]) error {
		for i := range b.Items {
			it := &b.Items[i]
			st.RowsIn++
			if mp, m := st.MaskPreview, it.mask; m != nil {
				if m.reason != "" {
					mp.NoTrainedTokens++
					if len(mp.NoTrained) < 100 {
						mp.NoTrained = append(mp.NoTrained, NoTrained{Line: it.rec.Line, Reason: m.reason, Tokens: len(m.ids)})
					}
				}
				if it.drop == "" && len(mp.Rows) < o.MaskPreview {
					mp.Rows = append(mp.Rows, m.preview(it.rec.Line, o.Tokenizer))
				}
			}
			st.Cleaned.Add(it.cl)
			for k, n := range it.red {
				st.Redacted[string(k)] += n
			}
			if it.drop != "" {
				st.Dropped[it.drop]++
				if it.drop == DropContaminated && len(st.Contaminated) < 100 {
					st.Contaminated = append(st.Contaminated, Contaminated{Line: it.rec.Line,
						EvalSet: o.Contamination.Sets[it.contam.Set], EvalRow: it.contam.Row})
				}
				if it.drop == DropUnreadable && len(st.UnreadableLines) < 20 {
					st.UnreadableLines = append(st.UnreadableLines, it.rec.Line)
				}
				continue
			}
			if it.chunks > 1 {
				st.Chunked++
				st.Chunks += it.chunks
			}
			for _, row := range it.rows {
				if exact != nil && sp == nil && exact.Bytes()+nearBytes(near) > cmpOr(o.DedupBudget, dedup.DefaultBudget) {
					if sp, err = startSpill(exact, near, outDir, st.RowsOut, nearN); err != nil {
						return err
					}
				}
				if sp != nil {
					// Decided after the last row (resolveSpill); written now.
					exact.Add(row.Text, sp.exactBase+sp.n)
					if near != nil {
						if _, _, err := near.Add(row.Text); err != nil {
							return err
						}
					}
					sp.n++
				} else if exact != nil && exact.Add(row.Text, st.RowsOut) >= 0 {
					st.Dropped[DropDuplicate]++
					if near != nil {
						nearN++
						if _, _, err := near.Add(row.Text); err != nil {
							return err
						}
					}
					continue
				} else if near != nil {
					nearN++
					m, _, err := near.Add(row.Text)
					if err != nil {
						return err
					}
					if m >= 0 {
						st.Dropped[DropNear]++
						continue
					}
				}
				if err := enc.Encode(&row); err != nil {
					return err
				}
				if side != nil {
					ws := it.words
					if it.chunks > 1 {
						ws = wordhash.Hashes(row.Text, nil)
					}
					if err := side.write(it.rec.Line, splitIdx.Ngrams(ws, nil)); err != nil {
						return err
					}
				}
				st.RowsOut++
				lens = append(lens, int32(row.Tokens))
				st.Tokens += int64(row.Tokens)
				hist.Add(row.Tokens)
			}
		}
		meter.Update(b.Offset, st.RowsIn)
		return nil
	}
	if err := ordered.Run(ctx, workers, read, work, consume); err != nil {
		return st, err
	}
	if err := tw.Flush(); err != nil {
		return st, err
	}
	if sp != nil && side != nil {
		// The side file is aligned with the rows before the spilled
		// duplicates are filtered out.
		st.DecontaminateSplit = "skipped: the duplicate indexes spilled to disk (raise the dedup budget)"
		side.close()
		side = nil
	}
	if sp != nil {
		kept, err := resolveSpill(sp, exact, near, tmp, outDir, &lens, &st)
		if err != nil {
			return st, err
		}
		defer os.Remove(kept.Name())
		defer kept.Close()
		tmp = kept
		hist = profile.Hist{}
		for _, n := range lens {
			hist.Add(int(n))
		}
	}
	st.TokenStats, st.Histogram = hist.Stats(), hist.Pow2()
	if err := split(tmp, outDir, o, lens, &st, side); err != nil {
		return st, err
	}
	meter.Done(st.RowsIn)
	st.Seconds = math.Round(time.Since(start).Seconds()*1000) / 1000
	return st, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// process runs the per-record steps of one item.
func process(it *item, o *Options) {
	if it.drop != "" {
		return
	}
	r := &it.rec
	if len(r.Missing) > 0 {
		it.drop = DropMissing
		return
	}
	if o.Contamination != nil || o.DecontaminateSplit > 0 {
		it.words = contam.Words(r, nil)
	}
	if o.Contamination != nil {
		var scratch []uint64
		if ref, _, ok := o.Contamination.Match(it.words, &scratch); ok {
			it.drop, it.contam = DropContaminated, ref
			return
		}
	}
	if o.Clean != (clean.Options{}) {
		r.MapText(func(s string) string { return clean.Text(s, o.Clean, &it.cl) })
	}
	if o.RedactPII {
		r.MapText(func(s string) string {
			red, ms := pii.Redact(s)
			for _, m := range ms {
				if it.red == nil {
					it.red = map[pii.Kind]int{}
				}
				it.red[m.Kind]++
			}
			return red
		})
	}
	recs := []record.Record{*r}
	if o.ChunkTokens > 0 && r.Format.Canonical() == record.Text {
		recs = chunk(r, o)
		it.chunks = len(recs)
	}
	for i := range recs {
		row, err := template.Apply(o.Template, &recs[i], o.Tokenizer)
		if err != nil {
			if len(recs) == 1 {
				it.drop = DropTemplate
				if errors.Is(err, template.ErrNoTarget) {
					it.drop = DropNoTarget
				}
			}
			continue
		}
		if strings.TrimSpace(row.Text[len(row.Prompt):]) == "" {
			if len(recs) == 1 {
				it.drop = DropEmpty
			}
			continue
		}
		if o.Tokenizer != nil {
			// Chat templates write their own special tokens (as
			// apply_chat_template(tokenize=True) does, encode without
			// adding more).
			row.Tokens = len(o.Tokenizer.Encode(row.Text, o.Template != template.Chat))
			if o.AppendEOS {
				if _, ok := o.Tokenizer.EOS(); ok {
					row.Tokens++
				}
			}
		} else {
			row.Tokens = (len(row.Text) + 3) / 4
		}
		if o.Mask != nil && len(recs) == 1 {
			it.mask = maskRow(&row, o.Mask, o.MaxTokens)
		}
		if o.MaxTokens > 0 && row.Tokens > o.MaxTokens {
			if len(recs) == 1 {
				it.drop = DropTooLong
			}
			continue
		}
		if row.Tokens < o.MinTokens {
			if len(recs) == 1 {
				it.drop = DropTooShort
			}
			continue
		}
		it.rows = append(it.rows, row)
	}
	if len(it.rows) == 0 && it.drop == "" {
		it.drop = DropTooLong
	}
}

// chunk splits a raw-text record into windows of ChunkTokens tokens that
// overlap by ChunkOverlap, decoded back to text.
func chunk(r *record.Record, o *Options) []record.Record {
	ids := o.Tokenizer.Encode(r.Text, false)
	if len(ids) <= o.ChunkTokens {
		return []record.Record{*r}
	}
	// Leave room for special tokens added at encoding.
	size := o.ChunkTokens
	stride := size - o.ChunkOverlap
	var out []record.Record
	for lo := 0; lo < len(ids); lo += stride {
		hi := min(lo+size, len(ids))
		c := *r
		c.Text = o.Tokenizer.Decode(ids[lo:hi], false)
		out = append(out, c)
		if hi == len(ids) {
			break
		}
	}
	return out
}

// split writes the rows of tmp to train.jsonl and validation.jsonl: exactly
// round(n * ValidationSplit) rows (at least one when the split is positive
// and there are two rows or more) chosen uniformly with Seed, in their
// original order.
func split(tmp *os.File, outDir string, o Options, lens []int32, st *Stats, side *sideFile) error {
	n := st.RowsOut
	k := int(math.Round(float64(n) * o.ValidationSplit))
	if o.ValidationSplit > 0 && k == 0 && n >= 2 {
		k = 1
	}
	if k >= n && n > 0 {
		k = n - 1
	}
	// Floyd's algorithm over a bitset: k distinct indices in [0, n).
	held := make([]uint64, (n+63)/64)
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	for j := n - k; j < n; j++ {
		t := rng.IntN(j + 1)
		if held[t/64]&(1<<(t%64)) != 0 {
			t = j
		}
		held[t/64] |= 1 << (t % 64)
	}
	isHeld := func(i int) bool { return held[i/64]&(1<<(i%64)) != 0 }
	// Decontaminating the split: index the validation rows' n-grams (by
	// source line), then drop training rows that share one.
	var valGrams map[uint64]int
	if side != nil {
		valGrams = map[uint64]int{}
		if err := side.each(func(i, line int, grams []uint64) {
			if isHeld(i) {
				for _, g := range grams {
					if _, ok := valGrams[g]; !ok {
						valGrams[g] = line
					}
				}
			}
		}); err != nil {
			return err
		}
		if err := side.rewind(); err != nil {
			return err
		}
	}
	var kept profile.Hist
	dropped := 0
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	train, err := os.Create(filepath.Join(outDir, "train.jsonl"))
	if err != nil {
		return err
	}
	defer train.Close()
	val, err := os.Create(filepath.Join(outDir, "validation.jsonl"))
	if err != nil {
		return err
	}
	defer val.Close()
	tw, vw := bufio.NewWriterSize(train, 1<<20), bufio.NewWriterSize(val, 1<<20)
	br := bufio.NewReaderSize(tmp, 1<<20)
	for i := 0; ; i++ {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long row: gather it.
			full := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				full = append(full, line...)
			}
			line = full
		}
		if len(line) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return err
		}
		if i >= len(lens) {
			return fmt.Errorf("split: more rows than written")
		}
		overlap := 0
		if side != nil {
			srcLine, grams, err := side.next()
			if err != nil {
				return err
			}
			if !isHeld(i) {
				for _, g := range grams {
					if l, ok := valGrams[g]; ok {
						overlap = l
						if len(st.Contaminated) < 100 {
							st.Contaminated = append(st.Contaminated, Contaminated{Line: srcLine, EvalSet: "validation", EvalRow: l})
						}
						break
					}
				}
			}
		}
		switch {
		case overlap > 0:
			st.Dropped[DropOverlapsValidation]++
			dropped++
			st.RowsOut--
			st.Tokens -= int64(lens[i])
		case isHeld(i):
			vw.Write(line)
			st.RowsValidation++
			st.TokensVal += int64(lens[i])
			kept.Add(int(lens[i]))
		default:
			tw.Write(line)
			st.RowsTrain++
			st.TokensTrain += int64(lens[i])
			kept.Add(int(lens[i]))
		}
		if err == io.EOF {
			break
		}
	}
	if dropped > 0 {
		st.TokenStats, st.Histogram = kept.Stats(), kept.Pow2()
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := vw.Flush(); err != nil {
		return err
	}
	if err := train.Close(); err != nil {
		return err
	}
	return val.Close()
}

// SortedDrops returns the drop reasons by count, for logs.
func SortedDrops(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return m[out[i]] > m[out[j]] })
	return out
}
