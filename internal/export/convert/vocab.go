package convert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/whetstone/whetstone/internal/export/gguf"
)

// Token types as llama.cpp numbers them (same as SentencePiece's).
const (
	tokNormal      = 1
	tokUnknown     = 2
	tokControl     = 3
	tokUserDefined = 4
	tokUnused      = 5
	tokByte        = 6
)

// Vocab is the tokenizer part of a GGUF file.
type Vocab struct {
	Model  string // "llama" (SentencePiece) or "gpt2" (byte-level BPE)
	Pre    string // pre-tokenizer: "default", "gpt-2", "smollm", "qwen2", "llama-bpe"
	Tokens []string
	Scores []float32 // SentencePiece only
	Types  []int32
	Merges []string // BPE only, "a b"
	// Special ids, -1 when absent.
	BOS, EOS, UNK, PAD, EOT int
	AddBOS, AddEOS          bool
	AddSpacePrefix          bool // SentencePiece only
	ChatTemplate            string
}

// TokenID returns the id of token text s.
func (v *Vocab) TokenID(s string) (int, bool) {
	for i, t := range v.Tokens {
		if t == s {
			return i, true
		}
	}
	return 0, false
}

// KVs returns the tokenizer.* metadata.
func (v *Vocab) KVs() []gguf.KV {
	kvs := []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: v.Model},
		{Key: "tokenizer.ggml.pre", Value: v.Pre},
		{Key: "tokenizer.ggml.tokens", Value: v.Tokens},
	}
	if v.Scores != nil {
		kvs = append(kvs, gguf.KV{Key: "tokenizer.ggml.scores", Value: v.Scores})
	}
	kvs = append(kvs, gguf.KV{Key: "tokenizer.ggml.token_type", Value: v.Types})
	if v.Merges != nil {
		kvs = append(kvs, gguf.KV{Key: "tokenizer.ggml.merges", Value: v.Merges})
	}
	for _, s := range []struct {
		key string
		id  int
	}{{"bos", v.BOS}, {"eos", v.EOS}, {"unknown", v.UNK}, {"padding", v.PAD}, {"eot", v.EOT}} {
		if s.id >= 0 {
			kvs = append(kvs, gguf.KV{Key: "tokenizer.ggml." + s.key + "_token_id", Value: uint32(s.id)})
		}
	}
	kvs = append(kvs,
		gguf.KV{Key: "tokenizer.ggml.add_bos_token", Value: v.AddBOS},
		gguf.KV{Key: "tokenizer.ggml.add_eos_token", Value: v.AddEOS})
	if v.Model == "llama" {
		kvs = append(kvs, gguf.KV{Key: "tokenizer.ggml.add_space_prefix", Value: v.AddSpacePrefix})
	}
	if v.ChatTemplate != "" {
		kvs = append(kvs, gguf.KV{Key: "tokenizer.chat_template", Value: v.ChatTemplate})
	}
	return kvs
}

// tokenizerConfig is the part of tokenizer_config.json used here.
type tokenizerConfig struct {
	AddBOS       *bool                      `json:"add_bos_token"`
	AddEOS       *bool                      `json:"add_eos_token"`
	BOS          any                        `json:"bos_token"`
	EOS          any                        `json:"eos_token"`
	UNK          any                        `json:"unk_token"`
	PAD          any                        `json:"pad_token"`
	ChatTemplate any                        `json:"chat_template"`
	Added        map[string]addedTokenEntry `json:"added_tokens_decoder"`
}

type addedTokenEntry struct {
	Content string `json:"content"`
	Special bool   `json:"special"`
}

func tokenText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		s, _ := x["content"].(string)
		return s
	}
	return ""
}

func readJSON(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// ChatTemplate returns the model folder's chat template: chat_template.jinja,
// else tokenizer_config.json's chat_template (a string, or the entry named
// "default" of a list). Empty when the model has none.
func ChatTemplate(dir string) (string, error) {
	if b, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja")); err == nil {
		return string(b), nil
	}
	var tc tokenizerConfig
	if _, err := readJSON(filepath.Join(dir, "tokenizer_config.json"), &tc); err != nil {
		return "", err
	}
	return templateOf(tc.ChatTemplate), nil
}

func templateOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		for _, e := range x {
			m, _ := e.(map[string]any)
			if m["name"] == "default" {
				s, _ := m["template"].(string)
				return s
			}
		}
	}
	return ""
}

// LoadVocab builds the GGUF vocabulary of the model in dir from
// tokenizer.json (byte-level BPE) or tokenizer.model (SentencePiece), plus
// tokenizer_config.json. pre overrides the detected BPE pre-tokenizer when
// not empty.
func LoadVocab(dir string, cfg *Config, pre string) (*Vocab, error) {
	var tc tokenizerConfig
	if _, err := readJSON(filepath.Join(dir, "tokenizer_config.json"), &tc); err != nil {
		return nil, err
	}
	var v *Vocab
	var err error
	tj := filepath.Join(dir, "tokenizer.json")
	spm := filepath.Join(dir, "tokenizer.model")
	switch {
	case fileExists(spm):
		// SentencePiece first: Llama-2-style models ship both files and
		// llama.cpp's own converter prefers tokenizer.model.
		v, err = spmVocab(spm, cfg)
	case fileExists(tj):
		v, err = bpeVocab(tj, cfg, pre)
	default:
		return nil, fmt.Errorf("%s: no tokenizer.json or tokenizer.model", dir)
	}
	if err != nil {
		return nil, err
	}
	// added_tokens_decoder marks added tokens special (control) or not.
	for ids, a := range tc.Added {
		var id int
		if _, err := fmt.Sscan(ids, &id); err != nil || id < 0 || id >= len(v.Tokens) {
			continue
		}
		if v.Model == "llama" && v.Types[id] != tokNormal && v.Types[id] != tokUnused {
			continue
		}
		v.Tokens[id] = a.Content
		if a.Special {
			v.Types[id] = tokControl
		} else {
			v.Types[id] = tokUserDefined
		}
	}
	index := make(map[string]int, len(v.Tokens))
	for i := len(v.Tokens) - 1; i >= 0; i-- {
		index[v.Tokens[i]] = i
	}
	lookup := func(tok any, fallback any) int {
		if s := tokenText(tok); s != "" {
			if id, ok := index[s]; ok {
				return id
			}
		}
		if id, ok := intID(fallback); ok && id >= 0 && id < len(v.Tokens) {
			return id
		}
		return -1
	}
	v.BOS = lookup(tc.BOS, cfg.BOSTokenID)
	v.EOS = lookup(tc.EOS, cfg.EOSTokenID)
	if u := lookup(tc.UNK, nil); u >= 0 {
		v.UNK = u
	}
	v.PAD = lookup(tc.PAD, cfg.PadTokenID)
	if tc.AddBOS != nil {
		v.AddBOS = *tc.AddBOS
	}
	if tc.AddEOS != nil {
		v.AddEOS = *tc.AddEOS
	}
	if v.ChatTemplate, err = ChatTemplate(dir); err != nil {
		return nil, err
	}
	// End-of-turn token of the chat template, when it is not EOS.
	v.EOT = -1
	for _, s := range []string{"<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"} {
		if id, ok := index[s]; ok && id != v.EOS && strings.Contains(v.ChatTemplate, s) {
			v.EOT = id
			break
		}
	}
	return v, nil
}

func fileExists(p string) bool { st, err := os.Stat(p); return err == nil && !st.IsDir() }

func spmVocab(path string, cfg *Config) (*Vocab, error) {
	m, err := loadSPM(path)
	if err != nil {
		return nil, err
	}
	if m.modelType != 1 && m.modelType != 2 {
		return nil, fmt.Errorf("%s: SentencePiece model type %d is not supported (unigram and BPE are)", path, m.modelType)
	}
	n := max(cfg.VocabSize, len(m.pieces))
	v := &Vocab{Model: "llama", Pre: "default", Tokens: make([]string, n), Scores: make([]float32, n), Types: make([]int32, n),
		UNK: -1, AddBOS: true, AddSpacePrefix: m.addDummyPrefix}
	for i := range n {
		if i < len(m.pieces) {
			p := m.pieces[i]
			v.Tokens[i], v.Scores[i], v.Types[i] = p.piece, p.score, p.typ
			if p.typ == tokUnknown {
				v.UNK = i
			}
			continue
		}
		v.Tokens[i], v.Scores[i], v.Types[i] = fmt.Sprintf("[PAD%d]", i), -1000, tokUnused
	}
	if v.UNK < 0 && m.unk >= 0 && m.unk < n {
		v.UNK = m.unk
	}
	return v, nil
}

// tokenizerJSON is the part of a Hugging Face tokenizer.json used here.
type tokenizerJSON struct {
	Model struct {
		Type         string          `json:"type"`
		Vocab        map[string]int  `json:"vocab"`
		Merges       json.RawMessage `json:"merges"`
		ByteFallback bool            `json:"byte_fallback"`
	} `json:"model"`
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
}

func bpeVocab(path string, cfg *Config, pre string) (*Vocab, error) {
	var t tokenizerJSON
	if _, err := readJSON(path, &t); err != nil {
		return nil, err
	}
	if t.Model.Type != "BPE" {
		return nil, fmt.Errorf("%s: tokenizer model %q is not supported (BPE and SentencePiece tokenizer.model are)", path, t.Model.Type)
	}
	if t.Model.ByteFallback || strings.Contains(string(t.PreTokenizer), "Metaspace") {
		return nil, fmt.Errorf("%s: a SentencePiece-style tokenizer.json (byte_fallback or Metaspace) needs the model's tokenizer.model next to it", path)
	}
	if pre == "" {
		var err error
		if pre, err = detectPre(t.PreTokenizer); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	n := cfg.VocabSize
	for _, id := range t.Model.Vocab {
		n = max(n, id+1)
	}
	for _, a := range t.AddedTokens {
		n = max(n, a.ID+1)
	}
	v := &Vocab{Model: "gpt2", Pre: pre, Tokens: make([]string, n), Types: make([]int32, n), UNK: -1}
	set := make([]bool, n)
	for s, id := range t.Model.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("%s: token %q has id %d", path, s, id)
		}
		v.Tokens[id], v.Types[id], set[id] = s, tokNormal, true
	}
	for _, a := range t.AddedTokens {
		v.Tokens[a.ID], set[a.ID] = a.Content, true
		if a.Special {
			v.Types[a.ID] = tokControl
		} else {
			v.Types[a.ID] = tokUserDefined
		}
	}
	for i := range n {
		if !set[i] {
			v.Tokens[i], v.Types[i] = fmt.Sprintf("[PAD%d]", i), tokUserDefined
		}
	}
	merges, err := parseMerges(t.Model.Merges)
	if err != nil {
		return nil, fmt.Errorf("%s: merges: %w", path, err)
	}
	v.Merges = merges
	return v, nil
}

func parseMerges(raw json.RawMessage) ([]string, error) {
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		return strs, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, err
	}
	out := make([]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("merge %d has %d parts", i, len(p))
		}
		out[i] = p[0] + " " + p[1]
	}
	return out, nil
}

// Pre-tokenizer regexes that identify llama.cpp's pre-tokenizer types.
const (
	qwen2Split  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	llama3Split = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// detectPre names llama.cpp's pre-tokenizer for a tokenizer.json
// pre_tokenizer: a lone ByteLevel with its regex is "gpt-2", Digits
// (individual) + ByteLevel is "smollm", and the Qwen2 and Llama-3 split
// regexes are "qwen2" and "llama-bpe". Others are an error: a wrong
// pre-tokenizer silently changes token ids.
func detectPre(raw json.RawMessage) (string, error) {
	type pt struct {
		Type             string          `json:"type"`
		UseRegex         *bool           `json:"use_regex"`
		IndividualDigits bool            `json:"individual_digits"`
		Pattern          map[string]any  `json:"pattern"`
		Pretokenizers    json.RawMessage `json:"pretokenizers"`
	}
	var top pt
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New("tokenizer has no pre_tokenizer; pass the llama.cpp pre-tokenizer name explicitly")
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return "", fmt.Errorf("pre_tokenizer: %w", err)
	}
	seq := []pt{top}
	if top.Type == "Sequence" {
		seq = nil
		if err := json.Unmarshal(top.Pretokenizers, &seq); err != nil {
			return "", fmt.Errorf("pre_tokenizer: %w", err)
		}
	}
	var kinds []string
	for _, p := range seq {
		k := p.Type
		switch p.Type {
		case "ByteLevel":
			if p.UseRegex == nil || *p.UseRegex {
				k = "ByteLevel+regex"
			}
		case "Digits":
			if p.IndividualDigits {
				k = "Digits1"
			}
		case "Split":
			re, _ := p.Pattern["Regex"].(string)
			switch re {
			case qwen2Split:
				k = "Split:qwen2"
			case llama3Split:
				k = "Split:llama3"
			}
		}
		kinds = append(kinds, k)
	}
	sig := strings.Join(kinds, ",")
	switch sig {
	case "ByteLevel+regex":
		return "gpt-2", nil
	case "Digits1,ByteLevel+regex":
		return "smollm", nil
	case "Split:qwen2,ByteLevel":
		return "qwen2", nil
	case "Split:llama3,ByteLevel":
		return "llama-bpe", nil
	}
	return "", fmt.Errorf("unrecognised pre_tokenizer (%s); pass the llama.cpp pre-tokenizer name explicitly", sig)
}

// sortedKeys is used for deterministic iteration in tests and errors.
func sortedKeys[M ~map[string]V, V any](m M) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
