package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/whetstone/whetstone/internal/tokenizer/sentencepiece"
)

// FuzzLoadTokenizerJSON feeds mutated tokenizer.json files to the loader: it must return an error or a
// tokenizer that encodes and decodes without panicking.
func FuzzLoadTokenizerJSON(f *testing.F) {
	for _, p := range []string{"testdata/llama-legacy/tokenizer.json", "testdata/llama-metaspace/tokenizer.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]},"pre_tokenizer":{"type":"ByteLevel"}}`))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"added_tokens":[{"id":5,"content":"<x>","lstrip":true,"rstrip":true}],` +
		`"normalizer":{"type":"Sequence","normalizers":[{"type":"NFKC"},{"type":"Replace","pattern":{"Regex":"\\s+"},"content":" "}]},` +
		`"pre_tokenizer":{"type":"Split","pattern":{"Regex":"\\s+(?!\\S)"},"behavior":"MergedWithNext","invert":true},` +
		`"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<x>"}},{"Sequence":{"id":"A"}}],"special_tokens":{"<x>":{"ids":[5]}}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"model":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseHF(b)
		if err != nil {
			return
		}
		tok := &Tokenizer{hf: p, tokenToID: p.tokenToID, idToToken: p.idToToken, special: map[int]bool{}}
		for _, s := range []string{"", "a b  ab\n<x> é 12 😀", " <x>ab<x> "} {
			ids := tok.Encode(s, true)
			tok.Decode(ids, false)
			tok.Decode(ids, true)
		}
		tok.Decode([]int{-1, 0, 1, 1 << 30}, false)
	})
}

// FuzzLoadTokenizerModel feeds mutated tokenizer.model files to the SentencePiece parser and encoder.
func FuzzLoadTokenizerModel(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(assetsDir(f), "models", "stories260K", "tokenizer.model"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:100])
	f.Add([]byte{0x0a, 0x05, 0x0a, 0x01, 'a', 0x18, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := sentencepiece.Parse(b)
		if err != nil {
			return
		}
		s, err := newSPM(m)
		if err != nil {
			return
		}
		tok := &Tokenizer{spm: s, bos: m.Trainer.BOSID, eos: m.Trainer.EOSID, special: map[int]bool{}}
		for _, text := range []string{"", "hello world", "  a\tb \u00e9😀 12 "} {
			ids := tok.Encode(text, true)
			tok.Decode(ids, false)
		}
		tok.Decode([]int{-1, 0, 1 << 30}, true)
	})
}

// TestLoadErrors checks that bad folders and files give errors naming the file and field.
func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, content, want string
	}{
		{"bad json", "tokenizer.json", `{"model": `, "tokenizer.json"},
		{"no model", "tokenizer.json", `{}`, "model: missing"},
		{"unknown normalizer", "tokenizer.json", `{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"normalizer":{"type":"Nope"}}`, `normalizer: unsupported type "Nope"`},
		{"merge not in vocab", "tokenizer.json", `{"model":{"type":"BPE","vocab":{"a":0},"merges":["a b"]}}`, "merges[0]"},
		{"bad regex", "tokenizer.json", `{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"("},"behavior":"Isolated"}}`, "pre_tokenizer: pattern"},
		{"unigram json", "tokenizer.json", `{"model":{"type":"Unigram","vocab":[["a",0]]}}`, `model: type "Unigram" is not supported`},
		{"truncated model", "tokenizer.model", "\x0a\x10\x0a", "tokenizer.model"},
		{"bad config", "tokenizer_config.json", `{"bos_token": 5}`, "bos_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load: err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither tokenizer.json nor tokenizer.model") {
		t.Errorf("empty folder: err = %v", err)
	}
}

// FuzzEncode encodes arbitrary strings (invalid UTF-8 included) with small tokenizers of each kind:
// no panics, and byte-level BPE decodes valid UTF-8 input back unchanged.
func FuzzEncode(f *testing.F) {
	for _, s := range []string{"", "hello world", "  \t\n", "<s>x</s>", "\xff\xfe", "é\u0301😀", "<mask> [W] hello world", "123456789"} {
		f.Add(s)
	}
	names := []string{"llama3-style", "llama-legacy", "llama-metaspace", "stories260K", "spm-unigram", "spm-bpe-nfkc", "added-bytelevel"}
	toks := make([]*Tokenizer, len(names))
	for i, n := range names {
		if tokenizerDirs[n] != "" {
			toks[i] = load(f, n)
			continue
		}
		tok, err := Load(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		toks[i] = tok
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i, tok := range toks {
			ids := tok.Encode(s, true)
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("%s: id %d out of range", names[i], id)
				}
			}
			out := tok.DecodeWith(tok.Encode(s, false), DecodeOptions{CleanUpSpaces: new(bool)})
			if names[i] == "llama3-style" && utf8.ValidString(s) && out != s {
				t.Fatalf("%s: Decode(Encode(%q)) = %q", names[i], s, out)
			}
		}
	})
}
