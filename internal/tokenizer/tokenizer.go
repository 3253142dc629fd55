package tokenizer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/whetstone/whetstone/internal/tokenizer/sentencepiece"
)

// Tokenizer turns text into token ids and back. It is safe for concurrent use.
type Tokenizer struct {
	// Exactly one of hf and spm is set.
	hf  *hfPipeline
	spm *spmModel

	cfg       config
	vocabSize int
	tokenToID map[string]int
	idToToken []string
	special   map[int]bool // ids of special tokens (skipped by Decode with skipSpecial)

	bos, eos int // -1 when absent
	stops    []int

	// spmSpecial matches special-token strings in rendered chats for tokenizer.model files.
	spmSpecial *addedMatcher
}

// Load reads a tokenizer from a model folder: tokenizer.json if present, else tokenizer.model
// (SentencePiece), plus tokenizer_config.json (special tokens, chat template) when present.
func Load(dir string) (*Tokenizer, error) {
	cfg, err := loadConfig(dir)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{cfg: cfg, bos: -1, eos: -1, special: map[int]bool{}}
	jsonPath := filepath.Join(dir, "tokenizer.json")
	modelPath := filepath.Join(dir, "tokenizer.model")
	switch b, err := os.ReadFile(jsonPath); {
	case err == nil:
		p, err := parseHF(b)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", jsonPath, err)
		}
		t.hf = p
		t.tokenToID = p.tokenToID
		t.idToToken = p.idToToken
		for _, a := range p.added {
			if a.Special {
				t.special[a.ID] = true
			}
		}
	case errors.Is(err, os.ErrNotExist):
		m, err := sentencepiece.Load(modelPath)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("tokenizer: %s has neither tokenizer.json nor tokenizer.model", dir)
			}
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		s, err := newSPM(m)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", modelPath, err)
		}
		t.spm = s
		t.tokenToID = make(map[string]int, len(m.Pieces))
		t.idToToken = make([]string, len(m.Pieces))
		for id, p := range m.Pieces {
			t.idToToken[id] = p.Piece
			if _, dup := t.tokenToID[p.Piece]; !dup {
				t.tokenToID[p.Piece] = id
			}
			if p.Type == sentencepiece.Control || p.Type == sentencepiece.Unknown {
				t.special[id] = true
			}
		}
		tr := m.Trainer
		t.bos, t.eos = tr.BOSID, tr.EOSID
	default:
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t.vocabSize = len(t.idToToken)
	for _, tok := range t.cfg.specialTokens() {
		if id, ok := t.tokenToID[tok]; ok {
			t.special[id] = true
		}
	}
	if t.cfg.BOSToken != nil {
		t.bos = -1
		if id, ok := t.tokenToID[*t.cfg.BOSToken]; ok {
			t.bos = id
		}
	}
	if t.cfg.EOSToken != nil {
		t.eos = -1
		if id, ok := t.tokenToID[*t.cfg.EOSToken]; ok {
			t.eos = id
		}
	}
	t.stops = t.computeStops(dir)
	if t.hf != nil {
		t.updatePostProcessor()
	}
	if t.spm != nil {
		var specials []addedToken
		for id := range t.special {
			if tok := t.idToToken[id]; tok != "" && t.spm.m.Pieces[id].Type != sentencepiece.Unknown {
				specials = append(specials, addedToken{ID: id, Content: tok, Special: true})
			}
		}
		for _, tok := range t.cfg.specialTokens() {
			if id, ok := t.tokenToID[tok]; ok && !t.special[id] {
				specials = append(specials, addedToken{ID: id, Content: tok, Special: true})
			}
		}
		if len(specials) > 0 {
			t.spmSpecial = newAddedMatcher(specials)
		}
	}
	return t, nil
}

// VocabSize returns the number of token ids, added tokens included (the largest id plus one).
func (t *Tokenizer) VocabSize() int { return t.vocabSize }

// TokenID returns the id of a token string (a vocabulary piece or an added token).
func (t *Tokenizer) TokenID(s string) (int, bool) {
	id, ok := t.tokenToID[s]
	return id, ok
}

// Token returns the string of a token id, or "" if the id is out of range.
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.idToToken) {
		return ""
	}
	return t.idToToken[id]
}

// IsSpecial reports whether id is a special token (skipped by Decode with skipSpecial).
func (t *Tokenizer) IsSpecial(id int) bool { return t.special[id] }

// BOS returns the beginning-of-sequence token id, if the model has one.
func (t *Tokenizer) BOS() (int, bool) { return t.bos, t.bos >= 0 }

// EOS returns the end-of-sequence token id, if the model has one.
func (t *Tokenizer) EOS() (int, bool) { return t.eos, t.eos >= 0 }

// StopTokens returns the ids that end generation: eos plus the end-of-turn tokens the chat template uses
// and those listed in generation_config.json.
func (t *Tokenizer) StopTokens() []int { return append([]int(nil), t.stops...) }

// Encode returns the ids of text. With addSpecial, the post-processor's tokens (e.g. BOS) are added as
// Hugging Face's encode(text, add_special_tokens=True) does; for tokenizer.model files, BOS (and EOS when
// add_eos_token is set) per tokenizer_config.json.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int {
	if t.spm != nil {
		var ids []int
		if addSpecial && t.cfg.addBOS(true) && t.bos >= 0 {
			ids = append(ids, t.bos)
		}
		ids = t.spm.encode(ids, text)
		if addSpecial && t.cfg.addEOS(false) && t.eos >= 0 {
			ids = append(ids, t.eos)
		}
		return ids
	}
	if t.hf == nil {
		return nil
	}
	return t.hf.encode(text, addSpecial)
}

// EncodeBatch encodes texts in parallel across GOMAXPROCS goroutines; result i holds the ids of texts[i].
func (t *Tokenizer) EncodeBatch(texts []string, addSpecial bool) [][]int {
	out := make([][]int, len(texts))
	workers := min(runtime.GOMAXPROCS(0), len(texts))
	if workers <= 1 {
		for i, s := range texts {
			out[i] = t.Encode(s, addSpecial)
		}
		return out
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	const chunk = 16
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				lo := next
				next += chunk
				mu.Unlock()
				if lo >= len(texts) {
					return
				}
				for i := lo; i < min(lo+chunk, len(texts)); i++ {
					out[i] = t.Encode(texts[i], addSpecial)
				}
			}
		})
	}
	wg.Wait()
	return out
}

// Decode turns ids back into text like transformers' tokenizer.decode: with skipSpecial, special tokens
// are left out, and spaces before punctuation are cleaned up when tokenizer_config.json sets
// clean_up_tokenization_spaces. Ids out of range are ignored.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) string {
	return t.DecodeWith(ids, DecodeOptions{SkipSpecial: skipSpecial})
}

// DecodeOptions controls DecodeWith.
type DecodeOptions struct {
	// SkipSpecial leaves special tokens out.
	SkipSpecial bool
	// CleanUpSpaces overrides clean_up_tokenization_spaces from tokenizer_config.json when set.
	CleanUpSpaces *bool
}

// DecodeWith is Decode with options.
func (t *Tokenizer) DecodeWith(ids []int, o DecodeOptions) string {
	s := t.decode(ids, o.SkipSpecial)
	clean := t.cfg.CleanUpSpaces
	if o.CleanUpSpaces != nil {
		clean = *o.CleanUpSpaces
	}
	if clean {
		// transformers' clean_up_tokenization, replacements applied in this order.
		for i := 0; i < len(cleanUpSpaces); i += 2 {
			s = strings.ReplaceAll(s, cleanUpSpaces[i], cleanUpSpaces[i+1])
		}
	}
	return s
}

var cleanUpSpaces = []string{" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'", " n't", "n't",
	" 'm", "'m", " 's", "'s", " 've", "'ve", " 're", "'re"}

func (t *Tokenizer) decode(ids []int, skipSpecial bool) string {
	if t.spm != nil {
		if skipSpecial {
			kept := make([]int, 0, len(ids))
			for _, id := range ids {
				if !t.special[id] {
					kept = append(kept, id)
				}
			}
			ids = kept
		}
		return t.spm.decode(ids, skipSpecial)
	}
	if t.hf == nil {
		return ""
	}
	return t.hf.decode(ids, skipSpecial)
}

// LoadTemplates reads only tokenizer_config.json (chat templates and special token strings) from dir,
// for folders that ship no tokenizer files. The result renders chat templates; it has no vocabulary, so
// Encode returns no ids. Returns ErrNoChatTemplate if the folder has no chat template.
func LoadTemplates(dir string) (*Tokenizer, error) {
	cfg, err := loadConfig(dir)
	if err != nil {
		return nil, err
	}
	if len(cfg.Templates) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoChatTemplate, dir)
	}
	return &Tokenizer{cfg: cfg, bos: -1, eos: -1, special: map[int]bool{}, tokenToID: map[string]int{}}, nil
}

// updatePostProcessor mirrors transformers' LlamaTokenizerFast / GemmaTokenizerFast, which rebuild the
// post-processor from add_bos_token and add_eos_token when loading.
func (t *Tokenizer) updatePostProcessor() {
	switch strings.TrimSuffix(t.cfg.TokenizerClass, "Fast") {
	case "LlamaTokenizer", "CodeLlamaTokenizer", "GemmaTokenizer":
	default:
		return
	}
	if t.cfg.AddBOSToken == nil && t.cfg.AddEOSToken == nil {
		return
	}
	var steps []postStep
	if t.cfg.addBOS(true) && t.bos >= 0 {
		steps = append(steps, postStep{ids: []int{t.bos}})
	}
	steps = append(steps, postStep{seq: true})
	if t.cfg.addEOS(false) && t.eos >= 0 {
		steps = append(steps, postStep{ids: []int{t.eos}})
	}
	t.hf.post = steps
}

// NewTemplate returns a Tokenizer that renders the chat template src (Jinja, as in tokenizer_config.json)
// with bos and eos as bos_token and eos_token (omitted when ""): for templates held elsewhere, such as a
// GGUF file's tokenizer.chat_template. Like LoadTemplates' result it has no vocabulary.
func NewTemplate(src, bos, eos string) *Tokenizer {
	cfg := config{Templates: map[string]string{"default": src}}
	if bos != "" {
		cfg.BOSToken = &bos
	}
	if eos != "" {
		cfg.EOSToken = &eos
	}
	return &Tokenizer{cfg: cfg, bos: -1, eos: -1, special: map[int]bool{}, tokenToID: map[string]int{}}
}
