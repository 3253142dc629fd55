package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/whetstone/whetstone/internal/data/record"
	"github.com/whetstone/whetstone/internal/data/template"
	"github.com/whetstone/whetstone/internal/redact"
	"github.com/whetstone/whetstone/internal/serving"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// sampling holds the request fields shared by both completion endpoints.
type sampling struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	Seed                *int64          `json:"seed"`
	N                   *int            `json:"n"`
}

type chatReq struct {
	sampling
	Messages    []chatMessage `json:"messages"`
	Logprobs    bool          `json:"logprobs"`
	TopLogprobs *int          `json:"top_logprobs"`
}

type completionReq struct {
	sampling
	Prompt   json.RawMessage `json:"prompt"`
	Logprobs *int            `json:"logprobs"`
	Echo     bool            `json:"echo"`
}

// genParams are validated sampling settings.
type genParams struct {
	maxTokens   int
	temperature float64
	topP        float64
	stops       []string
	seed        uint64
	n           int
	topLogprobs int  // alternatives per token
	logprobs    bool // report logprobs at all
}

func (p *sampling) params() (genParams, error) {
	g := genParams{temperature: 1, topP: 1, n: 1}
	switch {
	case p.MaxCompletionTokens != nil:
		g.maxTokens = *p.MaxCompletionTokens
		if g.maxTokens < 1 {
			return g, invalid("max_completion_tokens", "invalid_value", "Invalid 'max_completion_tokens': must be at least 1.")
		}
	case p.MaxTokens != nil:
		g.maxTokens = *p.MaxTokens
		if g.maxTokens < 1 {
			return g, invalid("max_tokens", "invalid_value", "Invalid 'max_tokens': must be at least 1.")
		}
	default:
		g.maxTokens = 1024 // capped by the model's context
	}
	if p.Temperature != nil {
		if *p.Temperature < 0 || *p.Temperature > 2 {
			return g, invalid("temperature", "invalid_value", "Invalid 'temperature': %g; expected a number from 0 to 2.", *p.Temperature)
		}
		g.temperature = *p.Temperature
	}
	if p.TopP != nil {
		if *p.TopP <= 0 || *p.TopP > 1 {
			return g, invalid("top_p", "invalid_value", "Invalid 'top_p': %g; expected a number in (0, 1].", *p.TopP)
		}
		g.topP = *p.TopP
	}
	if p.N != nil {
		if *p.N < 1 || *p.N > 16 {
			return g, invalid("n", "invalid_value", "Invalid 'n': %d; expected an integer from 1 to 16.", *p.N)
		}
		g.n = *p.N
	}
	if p.Seed != nil {
		g.seed = uint64(*p.Seed)
		if g.seed == 0 {
			g.seed = 0x5eed // 0 means "random" to the engine
		}
	}
	if len(p.Stop) > 0 && string(p.Stop) != "null" {
		var one string
		if json.Unmarshal(p.Stop, &one) == nil {
			g.stops = []string{one}
		} else if err := json.Unmarshal(p.Stop, &g.stops); err != nil || len(g.stops) > 4 {
			return g, invalid("stop", "invalid_value", "Invalid 'stop': expected a string or a list of up to 4 strings.")
		}
		for _, s := range g.stops {
			if s == "" {
				return g, invalid("stop", "invalid_value", "Invalid 'stop': empty strings are not allowed.")
			}
		}
	}
	return g, nil
}

func newCompletionID(prefix string) string {
	return newID(prefix, time.Now().UnixNano())
}

func (s *Server) loadModel(r *http.Request, id string) (*serving.Loaded, error) {
	if id == "" {
		return nil, invalid("model", "missing_required_parameter", "Missing required parameter: 'model'.")
	}
	if s.Engine == nil {
		return nil, &apiError{Status: http.StatusServiceUnavailable, Type: "server_error", Message: "Inference is not enabled on this server."}
	}
	t, err := s.target(r, id)
	if err != nil {
		return nil, err
	}
	return s.Engine.Load(t)
}

// renderChat turns messages into prompt ids with the model's chat
// template (with the assistant's generation prompt), or, for a model
// without one, as the preprocess agent's "none" template writes prompts.
func renderChat(tok *tokenizer.Tokenizer, msgs []chatMessage) ([]int32, error) {
	if len(msgs) == 0 {
		return nil, invalid("messages", "missing_required_parameter", "Missing required parameter: 'messages'.")
	}
	plain := make([]record.Message, 0, len(msgs))
	maps := make([]map[string]any, 0, len(msgs))
	for i, m := range msgs {
		if !roles[m.Role] {
			return nil, invalid(fmt.Sprintf("messages[%d].role", i), "invalid_value", "Invalid 'messages[%d].role': %q.", i, m.Role)
		}
		t, err := contentText(m.Content)
		if err != nil {
			return nil, invalid(fmt.Sprintf("messages[%d].content", i), "invalid_value", "Invalid 'messages[%d].content': %v.", i, err)
		}
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		plain = append(plain, record.Message{Role: role, Content: t})
		maps = append(maps, map[string]any{"role": role, "content": t})
	}
	var ids []int
	if tok.HasChatTemplate() {
		var err error
		ids, _, err = tok.EncodeChat(maps, tokenizer.ChatOptions{AddGenerationPrompt: true})
		if err != nil {
			return nil, invalid("messages", "invalid_value", "The model's chat template cannot render these messages: %v.", err)
		}
	} else {
		rec := record.Record{Format: record.Messages, Messages: append(plain, record.Message{Role: "assistant"})}
		row, err := template.Apply(template.None, &rec, nil)
		if err != nil {
			return nil, invalid("messages", "invalid_value", "Cannot render these messages: %v.", err)
		}
		ids = tok.Encode(row.Prompt, true)
	}
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out, nil
}

// choice is one generated answer as it streams.
type choice struct {
	index  int
	tok    *tokenizer.Tokenizer
	stops  []string
	ids    []int
	text   string // decoded so far, cut at a stop string
	sent   int    // bytes of text already delivered
	toks   []serving.Token
	sentTk int // tokens whose logprobs were delivered
	reason string
	halt   atomic.Bool
	// stopped: a stop string ended the text (the engine may have run on
	// before it saw halt; the answer still ends with "stop").
	stopped bool
}

// add decodes one more token and reports whether a stop string ended it.
func (c *choice) add(t serving.Token) bool {
	c.ids = append(c.ids, int(t.ID))
	c.toks = append(c.toks, t)
	c.text = c.tok.Decode(c.ids, true)
	for _, st := range c.stops {
		if i := strings.Index(c.text, st); i >= 0 {
			c.text = c.text[:i]
			return true
		}
	}
	return false
}

// ready returns the text that can be sent now: all of it once finished,
// else what cannot still turn into a stop string or an unfinished
// character.
func (c *choice) ready(final bool) string {
	end := len(c.text)
	if !final {
		for strings.HasSuffix(c.text[:end], "\uFFFD") {
			end -= len("\uFFFD")
		}
		for _, st := range c.stops {
			for k := min(len(st)-1, end); k > 0; k-- {
				if strings.HasSuffix(c.text[:end], st[:k]) {
					end -= k
					break
				}
			}
		}
		for end > c.sent && !utf8.ValidString(c.text[c.sent:end]) {
			end--
		}
	}
	if end <= c.sent {
		return ""
	}
	out := c.text[c.sent:end]
	c.sent = end
	return out
}

// generate runs n choices of prompt and calls onChunk (serialised) with
// each piece of text as it is ready, and once more with final set.
func (s *Server) generate(ctx context.Context, m *serving.Loaded, prompt []int32, g genParams,
	onChunk func(c *choice, text string, final bool) error) ([]*choice, error) {
	var mu sync.Mutex
	type run struct {
		c   *choice
		seq *serving.Seq
		ch  chan serving.Token
	}
	runs := make([]run, g.n)
	top := -1
	if g.logprobs {
		top = g.topLogprobs
	}
	for i := range runs {
		c := &choice{index: i, tok: m.Tok, stops: g.stops}
		ch := make(chan serving.Token, g.maxTokens+1)
		seed := g.seed
		if seed != 0 {
			seed += uint64(i)
		}
		seq, err := s.Engine.Submit(ctx, serving.Request{Model: m, Prompt: prompt, MaxTokens: g.maxTokens, Temperature: g.temperature,
			TopP: g.topP, Seed: seed, TopLogprobs: top, OnToken: func(t serving.Token) bool {
				ch <- t
				return !c.halt.Load()
			}})
		if err != nil {
			for _, r := range runs[:i] {
				r.c.halt.Store(true)
			}
			return nil, err
		}
		runs[i] = run{c, seq, ch}
	}
	errs := make([]error, g.n)
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			res, err := r.seq.Wait()
			if err == nil {
				r.c.reason = string(res.Reason)
			}
			errs[i] = err
			close(r.ch)
		}()
		go func() {
			defer wg.Done()
			for t := range r.ch {
				if r.c.halt.Load() {
					continue
				}
				if r.c.add(t) {
					r.c.halt.Store(true)
					r.c.stopped = true
				}
				mu.Lock()
				if txt := r.c.ready(false); txt != "" {
					if err := onChunk(r.c, txt, false); err != nil {
						r.c.halt.Store(true)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	out := make([]*choice, g.n)
	for i, r := range runs {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if r.c.stopped {
			r.c.reason = string(serving.FinishStop)
		}
		out[i] = r.c
	}
	for _, c := range out {
		if err := onChunk(c, c.ready(true), true); err != nil {
			return out, err
		}
	}
	return out, nil
}

// logprobContent is one token of chat logprobs.
type logprobContent struct {
	Token       string       `json:"token"`
	Logprob     float64      `json:"logprob"`
	Bytes       []int        `json:"bytes"`
	TopLogprobs []topLogprob `json:"top_logprobs"`
}

type topLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

func tokenText(tok *tokenizer.Tokenizer, id int32) string { return tok.Decode([]int{int(id)}, false) }

func byteList(s string) []int {
	b := make([]int, len(s))
	for i := range s {
		b[i] = int(s[i])
	}
	return b
}

func chatLogprobs(tok *tokenizer.Tokenizer, ts []serving.Token) []logprobContent {
	out := make([]logprobContent, 0, len(ts))
	for _, t := range ts {
		s := tokenText(tok, t.ID)
		lc := logprobContent{Token: s, Logprob: t.Logprob, Bytes: byteList(s), TopLogprobs: []topLogprob{}}
		for _, a := range t.Top {
			as := tokenText(tok, a.ID)
			lc.TopLogprobs = append(lc.TopLogprobs, topLogprob{Token: as, Logprob: a.Logprob, Bytes: byteList(as)})
		}
		out = append(out, lc)
	}
	return out
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func usageOf(prompt int, cs []*choice) usage {
	u := usage{PromptTokens: prompt}
	for _, c := range cs {
		u.CompletionTokens += len(c.ids)
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// sse writes server-sent events in OpenAI's form (data: JSON, then
// data: [DONE]).
type sse struct {
	w      http.ResponseWriter
	f      http.Flusher
	redact *redact.Paths
}

// startSSE starts an event stream whose events are redacted as writeJSON's
// answers are.
func (s *Server) startSSE(w http.ResponseWriter) *sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	return &sse{w, f, s.redact}
}

func (e *sse) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(e.w, "data: %s\n\n", e.redact.Bytes(b)); err != nil {
		return err
	}
	if e.f != nil {
		e.f.Flush()
	}
	return nil
}

func (e *sse) done() {
	fmt.Fprint(e.w, "data: [DONE]\n\n")
	if e.f != nil {
		e.f.Flush()
	}
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) error {
	var req chatReq
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	g, err := req.params()
	if err != nil {
		return err
	}
	if req.TopLogprobs != nil {
		if *req.TopLogprobs < 0 || *req.TopLogprobs > 20 {
			return invalid("top_logprobs", "invalid_value", "Invalid 'top_logprobs': expected an integer from 0 to 20.")
		}
		if !req.Logprobs {
			return invalid("top_logprobs", "invalid_value", "'top_logprobs' requires 'logprobs' to be true.")
		}
		g.topLogprobs = *req.TopLogprobs
	}
	g.logprobs = req.Logprobs
	m, err := s.loadModel(r, req.Model)
	if err != nil {
		return err
	}
	prompt, err := renderChat(m.Tok, req.Messages)
	if err != nil {
		return err
	}
	id, created := newCompletionID("chatcmpl"), time.Now().Unix()
	if !req.Stream {
		cs, err := s.generate(r.Context(), m, prompt, g, func(*choice, string, bool) error { return nil })
		if err != nil {
			return err
		}
		choices := make([]map[string]any, len(cs))
		for i, c := range cs {
			var lp any
			if g.logprobs {
				lp = map[string]any{"content": chatLogprobs(m.Tok, c.toks), "refusal": nil}
			}
			choices[i] = map[string]any{"index": i, "message": map[string]any{"role": "assistant", "content": c.text, "refusal": nil},
				"logprobs": lp, "finish_reason": c.reason}
		}
		s.writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "chat.completion", "created": created, "model": req.Model,
			"choices": choices, "usage": usageOf(len(prompt), cs), "system_fingerprint": "whetstone"})
		return nil
	}
	var ev *sse
	started := false
	chunk := func(choices []map[string]any) map[string]any {
		return map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"system_fingerprint": "whetstone", "choices": choices}
	}
	cs, err := s.generate(r.Context(), m, prompt, g, func(c *choice, text string, final bool) error {
		if !started {
			ev, started = s.startSSE(w), true
			for i := range g.n {
				if err := ev.send(chunk([]map[string]any{{"index": i, "delta": map[string]any{"role": "assistant", "content": ""}, "logprobs": nil, "finish_reason": nil}})); err != nil {
					return err
				}
			}
		}
		var lp any
		if g.logprobs && len(c.toks) > c.sentTk {
			lp = map[string]any{"content": chatLogprobs(m.Tok, c.toks[c.sentTk:]), "refusal": nil}
			c.sentTk = len(c.toks)
		}
		if text != "" || lp != nil {
			if err := ev.send(chunk([]map[string]any{{"index": c.index, "delta": map[string]any{"content": text}, "logprobs": lp, "finish_reason": nil}})); err != nil {
				return err
			}
		}
		if final {
			return ev.send(chunk([]map[string]any{{"index": c.index, "delta": map[string]any{}, "logprobs": nil, "finish_reason": c.reason}}))
		}
		return nil
	})
	if err != nil && !started {
		return err
	}
	if err != nil {
		ev.send(map[string]any{"error": map[string]any{"message": err.Error(), "type": "server_error", "param": nil, "code": nil}})
		return nil
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		u := chunk([]map[string]any{})
		u["usage"] = usageOf(len(prompt), cs)
		ev.send(u)
	}
	ev.done()
	return nil
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) error {
	var req completionReq
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	g, err := req.params()
	if err != nil {
		return err
	}
	if req.Logprobs != nil {
		if *req.Logprobs < 0 || *req.Logprobs > 5 {
			return invalid("logprobs", "invalid_value", "Invalid 'logprobs': expected an integer from 0 to 5.")
		}
		g.logprobs, g.topLogprobs = true, *req.Logprobs
	}
	var text string
	if err := json.Unmarshal(req.Prompt, &text); err != nil {
		var list []string
		if json.Unmarshal(req.Prompt, &list) != nil || len(list) != 1 {
			return invalid("prompt", "invalid_value", "Invalid 'prompt': expected a string (or a list of one string).")
		}
		text = list[0]
	}
	if req.Prompt == nil {
		return invalid("prompt", "missing_required_parameter", "Missing required parameter: 'prompt'.")
	}
	m, err := s.loadModel(r, req.Model)
	if err != nil {
		return err
	}
	ids := m.Tok.Encode(text, true)
	prompt := make([]int32, len(ids))
	for i, id := range ids {
		prompt[i] = int32(id)
	}
	id, created := newCompletionID("cmpl"), time.Now().Unix()
	legacyLP := func(c *choice, ts []serving.Token) any {
		if !g.logprobs {
			return nil
		}
		out := map[string]any{"tokens": []string{}, "token_logprobs": []float64{}, "top_logprobs": []map[string]float64{}, "text_offset": []int{}}
		toks, lps, tops, offs := []string{}, []float64{}, []map[string]float64{}, []int{}
		off := 0
		for _, t := range ts {
			s := tokenText(m.Tok, t.ID)
			toks, lps, offs = append(toks, s), append(lps, t.Logprob), append(offs, off)
			off += len(s)
			tm := map[string]float64{}
			for _, a := range t.Top {
				tm[tokenText(m.Tok, a.ID)] = a.Logprob
			}
			tops = append(tops, tm)
		}
		out["tokens"], out["token_logprobs"], out["top_logprobs"], out["text_offset"] = toks, lps, tops, offs
		return out
	}
	prefix := ""
	if req.Echo {
		prefix = text
	}
	if !req.Stream {
		cs, err := s.generate(r.Context(), m, prompt, g, func(*choice, string, bool) error { return nil })
		if err != nil {
			return err
		}
		choices := make([]map[string]any, len(cs))
		for i, c := range cs {
			choices[i] = map[string]any{"text": prefix + c.text, "index": i, "logprobs": legacyLP(c, c.toks), "finish_reason": c.reason}
		}
		s.writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "text_completion", "created": created, "model": req.Model,
			"choices": choices, "usage": usageOf(len(prompt), cs), "system_fingerprint": "whetstone"})
		return nil
	}
	var ev *sse
	chunk := func(c *choice, text string, reason any, lp any) map[string]any {
		return map[string]any{"id": id, "object": "text_completion", "created": created, "model": req.Model, "system_fingerprint": "whetstone",
			"choices": []map[string]any{{"text": text, "index": c.index, "logprobs": lp, "finish_reason": reason}}}
	}
	echoed := map[int]bool{}
	cs, err := s.generate(r.Context(), m, prompt, g, func(c *choice, text string, final bool) error {
		if ev == nil {
			ev = s.startSSE(w)
		}
		if !echoed[c.index] && prefix != "" {
			text = prefix + text
		}
		echoed[c.index] = true
		var lp any
		if g.logprobs && len(c.toks) > c.sentTk {
			lp = legacyLP(c, c.toks[c.sentTk:])
			c.sentTk = len(c.toks)
		}
		if text != "" || lp != nil {
			if err := ev.send(chunk(c, text, nil, lp)); err != nil {
				return err
			}
		}
		if final {
			return ev.send(chunk(c, "", c.reason, nil))
		}
		return nil
	})
	if err != nil && ev == nil {
		return err
	}
	if err != nil {
		ev.send(map[string]any{"error": map[string]any{"message": err.Error(), "type": "server_error", "param": nil, "code": nil}})
		return nil
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		ev.send(map[string]any{"id": id, "object": "text_completion", "created": created, "model": req.Model, "choices": []any{}, "usage": usageOf(len(prompt), cs)})
	}
	ev.done()
	return nil
}
