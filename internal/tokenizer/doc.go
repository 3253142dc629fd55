// Package tokenizer turns text into the token ids a model was trained with, and back, with the same
// results as Hugging Face's tokenizers library (tokenizer.json) or the SentencePiece library
// (tokenizer.model). It also renders chat templates (tokenizer_config.json) like Python Jinja2 with
// Hugging Face's settings, and marks the assistant tokens of a rendered conversation.
//
// # Loading
//
// Load reads a model folder: tokenizer.json when present (BPE models: byte-level like GPT-2, Llama-3,
// Qwen, SmolLM; or SentencePiece-style with metaspace and byte fallback like Llama-2), else
// tokenizer.model (SentencePiece BPE or Unigram, parsed by package sentencepiece), plus
// tokenizer_config.json for special tokens and chat templates.
//
// # Encoding
//
//	tok, err := tokenizer.Load("models/smollm2")
//	ids := tok.Encode("Hello world", false)
//	text := tok.Decode(ids, true)
//
// EncodeBatch spreads texts over all cores; repeated words hit a shared cache.
package tokenizer
