package tokenizer

import (
	"strings"

	"github.com/whetstone/whetstone/internal/tokenizer/sentencepiece"
)

// Token types, numbered like SentencePiece's piece types (and GGUF's tokenizer.ggml.token_type).
const (
	TypeNormal      = 1
	TypeUnknown     = 2
	TypeControl     = 3
	TypeUserDefined = 4
	TypeUnused      = 5
	TypeByte        = 6
)

// Vocab describes a tokenizer's model for exporters (e.g. GGUF).
type Vocab struct {
	// Kind is "bpe" (byte-level BPE from tokenizer.json), "bpe-sp" (SentencePiece-style BPE from
	// tokenizer.json), "spm-bpe" or "spm-unigram" (tokenizer.model).
	Kind string
	// Tokens are the token strings by id, as stored by the model (byte-level tokens use GPT-2's
	// byte-to-unicode characters; SentencePiece pieces use "▁").
	Tokens []string
	// Types are the token types by id (TypeNormal...).
	Types []int
	// Scores are the piece scores by id (tokenizer.model only; nil otherwise).
	Scores []float32
	// Merges are the BPE merges in rank order as "a b" (tokenizer.json only).
	Merges []string
	// PreTokenizer is the Split regex of the pre-tokenizer when there is one, else "".
	PreTokenizer string
	// AddBOS and AddEOS report whether Encode(text, true) adds them.
	AddBOS, AddEOS bool
	// BOS, EOS, UNK, PAD are token ids, -1 when absent.
	BOS, EOS, UNK, PAD int
}

// Vocab returns the model's vocabulary description. The slices are fresh copies.
func (t *Tokenizer) Vocab() *Vocab {
	v := &Vocab{Tokens: append([]string(nil), t.idToToken...), Types: make([]int, len(t.idToToken)),
		BOS: t.bos, EOS: t.eos, UNK: -1, PAD: -1}
	if t.cfg.UnkToken != nil {
		if id, ok := t.tokenToID[*t.cfg.UnkToken]; ok {
			v.UNK = id
		}
	}
	if t.cfg.PadToken != nil {
		if id, ok := t.tokenToID[*t.cfg.PadToken]; ok {
			v.PAD = id
		}
	}
	switch {
	case t.spm != nil:
		m := t.spm.m
		v.Kind = "spm-bpe"
		if m.Trainer.ModelType == sentencepiece.Unigram {
			v.Kind = "spm-unigram"
		}
		v.Scores = make([]float32, len(m.Pieces))
		for i, p := range m.Pieces {
			v.Types[i] = int(p.Type)
			v.Scores[i] = p.Score
		}
		v.UNK = m.Trainer.UnkID
		v.PAD = m.Trainer.PadID
		v.AddBOS, v.AddEOS = t.cfg.addBOS(true), t.cfg.addEOS(false)
	case t.hf != nil:
		p := t.hf
		v.Kind = "bpe"
		if !p.byteLevel {
			v.Kind = "bpe-sp"
		}
		v.Merges = make([]string, len(p.bpe.mergePairs))
		for i, m := range p.bpe.mergePairs {
			v.Merges[i] = m[0] + " " + m[1]
		}
		for id, tok := range v.Tokens {
			v.Types[id] = TypeNormal
			if a, ok := p.addedByID[id]; ok {
				v.Types[id] = TypeUserDefined
				if a.Special {
					v.Types[id] = TypeControl
				}
			} else if id == p.bpe.unk {
				v.Types[id] = TypeUnknown
			} else if !p.byteLevel && len(tok) == 6 && strings.HasPrefix(tok, "<0x") {
				v.Types[id] = TypeByte
			} else if tok == "" {
				v.Types[id] = TypeUnused
			}
		}
		if p.bpe.unk >= 0 {
			v.UNK = p.bpe.unk
		}
		v.PreTokenizer = p.splitPattern
		for _, s := range p.post {
			if s.seq {
				break
			}
			v.AddBOS = v.AddBOS || len(s.ids) > 0
		}
		seen := false
		for _, s := range p.post {
			if s.seq {
				seen = true
			} else if seen && len(s.ids) > 0 {
				v.AddEOS = true
			}
		}
	}
	return v
}
