package tokenizer

import (
	"errors"
	"strings"
)

// EncodeChat renders messages with the chat template and encodes the text (without adding special
// tokens: the template carries them). assistantMask[i] is true where ids[i] is assistant output.
//
// When the template marks assistant output with {% generation %} blocks, the mask is exactly
// transformers' return_assistant_tokens_mask: every token overlapping a block's output. Otherwise it
// covers the assistant's content (including what the template puts there, like tool calls or think
// blocks) through the end-of-turn token, but not the turn header before it nor text the template adds
// after the end-of-turn token. Masks are meant for prompt-loss masking in training.
func (t *Tokenizer) EncodeChat(messages []map[string]any, opts ChatOptions) (ids []int, assistantMask []bool, err error) {
	full, genSpans, err := t.renderChat(messages, opts)
	if err != nil {
		return nil, nil, err
	}
	ids = t.encodeRendered(full)
	if len(genSpans) > 0 {
		return ids, t.overlapMask(ids, full, genSpans), nil
	}
	spans := t.assistantSpans(full, messages, opts)
	assistantMask = make([]bool, len(ids))
	if len(spans) == 0 {
		return ids, assistantMask, nil
	}
	if offs, ok := t.tokenOffsets(ids, full); ok {
		for i := range ids {
			for _, s := range spans {
				if offs[i] >= s[0] && offs[i] < s[1] {
					assistantMask[i] = true
					break
				}
			}
		}
		return ids, assistantMask, nil
	}
	// The tokenizer changes the text (normalization, dummy prefix): count tokens of prefixes instead.
	for _, s := range spans {
		lo := len(t.encodeRendered(full[:s[0]]))
		hi := len(t.encodeRendered(full[:s[1]]))
		for i := lo; i < min(hi, len(ids)); i++ {
			assistantMask[i] = true
		}
	}
	return ids, assistantMask, nil
}

// EncodeChatMask is EncodeChat with the default options, as the trainer
// renders chat rows (train.ChatTokenizer). It fails when the tokenizer has
// no chat template.
func (t *Tokenizer) EncodeChatMask(messages []map[string]any) (ids []int, assistantMask []bool, err error) {
	if !t.HasChatTemplate() {
		return nil, nil, errors.New("the model's tokenizer has no chat template")
	}
	return t.EncodeChat(messages, ChatOptions{})
}

// overlapMask marks the tokens whose text overlaps any span (transformers' char_to_token rule).
func (t *Tokenizer) overlapMask(ids []int, text string, spans [][2]int) []bool {
	mask := make([]bool, len(ids))
	offs, ok := t.tokenOffsets(ids, text)
	if !ok {
		for _, s := range spans {
			lo := len(t.encodeRendered(text[:s[0]]))
			hi := len(t.encodeRendered(text[:s[1]]))
			for i := lo; i < min(hi, len(ids)); i++ {
				mask[i] = true
			}
		}
		return mask
	}
	for i := range ids {
		end := len(text)
		if i+1 < len(ids) {
			end = offs[i+1]
		}
		for _, s := range spans {
			if offs[i] < s[1] && end > s[0] && s[1] > s[0] {
				mask[i] = true
				break
			}
		}
	}
	return mask
}

// encodeRendered encodes a rendered chat without adding special tokens. For tokenizer.model files,
// special-token strings in the text (bos_token etc., control pieces) become their ids and the text
// between them is encoded piece by piece, like transformers' (legacy) LlamaTokenizer; tokenizer.json
// pipelines already do this.
func (t *Tokenizer) encodeRendered(text string) []int {
	if t.spm == nil {
		return t.Encode(text, false)
	}
	if t.spmSpecial == nil {
		return t.spm.encode(nil, text)
	}
	var ids []int
	t.spmSpecial.split(text, func(seg string, _ int, id int) {
		if id >= 0 {
			ids = append(ids, id)
			return
		}
		ids = t.spm.encode(ids, seg)
	})
	return ids
}

// assistantSpans returns the byte spans of assistant output in the rendered text full.
func (t *Tokenizer) assistantSpans(full string, messages []map[string]any, opts ChatOptions) [][2]int {
	var stopStrs []string
	for _, id := range t.stops {
		if s := t.Token(id); s != "" {
			stopStrs = append(stopStrs, s)
		}
	}
	var spans [][2]int
	from := 0
	for i, m := range messages {
		if role, _ := m["role"].(string); role != "assistant" {
			continue
		}
		content, _ := m["content"].(string)
		start := -1
		o := opts
		o.AddGenerationPrompt = true
		if h, err := t.ApplyChatTemplate(messages[:i], o); err == nil && len(h) >= from && strings.HasPrefix(full, h) {
			start = len(h)
		} else if content != "" {
			if k := strings.Index(full[from:], content); k >= 0 {
				start = from + k
			}
		}
		if start < 0 {
			continue
		}
		limit := len(full)
		o.AddGenerationPrompt = false
		if r, err := t.ApplyChatTemplate(messages[:i+1], o); err == nil && len(r) > start && strings.HasPrefix(full, r) {
			limit = len(r)
		}
		cEnd := start
		if content != "" {
			if k := strings.Index(full[start:limit], content); k >= 0 {
				cEnd = start + k + len(content)
			}
		}
		end := limit
		best := -1
		for _, s := range stopStrs {
			if k := strings.Index(full[cEnd:limit], s); k >= 0 && (best < 0 || k < best || k == best && cEnd+k+len(s) > end) {
				best = k
				end = cEnd + k + len(s)
			}
		}
		if best < 0 && limit == len(full) && i+1 < len(messages) {
			// No end-of-turn marker found and the turn's end is unknown: stop at the next message's text.
			if next, _ := messages[i+1]["content"].(string); next != "" {
				if k := strings.Index(full[cEnd:], next); k >= 0 {
					end = cEnd + k
				}
			}
		}
		spans = append(spans, [2]int{start, end})
		from = end
	}
	return spans
}

// tokenOffsets returns the byte offset in text of each token when the tokens spell text exactly.
func (t *Tokenizer) tokenOffsets(ids []int, text string) ([]int, bool) {
	offs := make([]int, len(ids))
	pos := 0
	for i, id := range ids {
		s, ok := t.tokenText(id)
		if !ok || !strings.HasPrefix(text[pos:], s) {
			return nil, false
		}
		offs[i] = pos
		pos += len(s)
	}
	return offs, pos == len(text)
}

// tokenText is the exact text a token stands for, when it is well defined.
func (t *Tokenizer) tokenText(id int) (string, bool) {
	if id < 0 || id >= len(t.idToToken) {
		return "", false
	}
	tok := t.idToToken[id]
	if t.hf != nil {
		if a, ok := t.hf.addedByID[id]; ok {
			return a.Content, true
		}
		if t.hf.byteLevel {
			return unmapBytes(tok)
		}
	}
	return "", false
}
