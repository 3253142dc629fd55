package tokenizer

import (
	"path"
	"slices"
)

// vocabFiles are the files Load reads a vocabulary from, the first present
// winning.
var vocabFiles = []string{"tokenizer.json", "tokenizer.model"}

// Needs says which files a folder must have for Load to read it, for
// messages: "tokenizer.json or tokenizer.model".
const Needs = "tokenizer.json or tokenizer.model"

// Files are the tokenizer's files in a model folder: the vocabulary files,
// the files Load reads beside them (tokenizer_config.json, chat_template.jinja,
// chat_template.json, generation_config.json) and the ones other tools read
// (special_tokens_map.json, added_tokens.json, vocab.json, merges.txt). A
// model written from another (a merged or fully fine-tuned model) copies
// those present, so it keeps its base's tokenizer and chat template.
var Files = []string{"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
	"added_tokens.json", "vocab.json", "merges.txt", "generation_config.json", "chat_template.jinja", "chat_template.json"}

// Holds reports whether a folder whose files are names (slash-separated
// paths relative to it) holds a tokenizer Load reads: tokenizer.json or
// tokenizer.model at its top (Needs). It reads nothing.
func Holds(names []string) bool {
	return slices.ContainsFunc(names, func(n string) bool {
		return slices.Contains(vocabFiles, path.Clean(n))
	})
}
