// Package serving generates text for many concurrent requests on the Go
// engine: it loads base models once, serves LoRA adapters on top of a shared
// base (several adapters, one copy of the base weights), and runs one
// scheduler that batches the decode steps of every active sequence of the
// same model into one forward pass (continuous batching). Admission is
// bounded: when MaxQueue requests already wait, Submit fails at once with
// ErrBusy rather than letting the caller hang.
package serving

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/whetstone/whetstone/internal/engine/model"
	"github.com/whetstone/whetstone/internal/tokenizer"
)

// ErrBusy is returned by Submit when the queue is full or a request waited
// longer than QueueTimeout for a slot.
var ErrBusy = errors.New("server busy: too many concurrent generation requests")

// Target names what to run: a Hugging Face model folder and, optionally, a
// PEFT LoRA adapter folder applied on it.
type Target struct {
	Base    string
	Adapter string
}

// Loaded is a model ready to generate.
type Loaded struct {
	Model *model.Model
	Tok   *tokenizer.Tokenizer
	// Stops are the ids that end generation (EOS and the template's
	// end-of-turn tokens).
	Stops []int32
}

// Options configures an Engine. Zero values take the defaults.
type Options struct {
	// MaxBatch is the most sequences decoded together. Defaults to 16.
	MaxBatch int
	// MaxQueue is the most sequences waiting for a slot. Defaults to 64.
	MaxQueue int
	// QueueTimeout is how long a sequence may wait for a slot before it
	// fails with ErrBusy. Defaults to 30s.
	QueueTimeout time.Duration
	Logger       *slog.Logger
}

// Engine serves generation requests. Create it with New; Close stops it.
type Engine struct {
	opt Options

	mu       sync.Mutex
	bases    map[string]*baseEntry
	variants map[Target]*Loaded

	queue  chan *Seq
	stop   chan struct{}
	closed sync.Once
	wg     sync.WaitGroup
}

type baseEntry struct {
	once sync.Once
	m    *model.Model
	tok  *tokenizer.Tokenizer
	err  error
}

// New returns a running engine.
func New(o Options) *Engine {
	o.MaxBatch = cmpOr(o.MaxBatch, 16)
	o.MaxQueue = cmpOr(o.MaxQueue, 64)
	if o.QueueTimeout <= 0 {
		o.QueueTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{opt: o, bases: map[string]*baseEntry{}, variants: map[Target]*Loaded{},
		queue: make(chan *Seq, o.MaxQueue), stop: make(chan struct{})}
	e.wg.Add(1)
	go e.loop()
	return e
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Close stops the scheduler; sequences still running end with an error.
// Safe to call twice.
func (e *Engine) Close() {
	e.closed.Do(func() { close(e.stop) })
	e.wg.Wait()
}

// Load returns the model for t, loading the base (once) and attaching the
// adapter on a view that shares the base's weights.
func (e *Engine) Load(t Target) (*Loaded, error) {
	e.mu.Lock()
	if l, ok := e.variants[t]; ok {
		e.mu.Unlock()
		return l, nil
	}
	b, ok := e.bases[t.Base]
	if !ok {
		b = &baseEntry{}
		e.bases[t.Base] = b
	}
	e.mu.Unlock()
	b.once.Do(func() {
		b.m, b.err = model.Load(t.Base)
		if b.err == nil {
			b.tok, b.err = tokenizer.Load(t.Base)
		}
	})
	if b.err != nil {
		return nil, fmt.Errorf("load model %s: %w", t.Base, b.err)
	}
	m := b.m
	if t.Adapter != "" {
		m = b.m.ShareBase()
		if _, err := m.LoadAdapter(t.Adapter); err != nil {
			return nil, err
		}
	}
	l := &Loaded{Model: m, Tok: b.tok}
	for _, id := range b.tok.StopTokens() {
		l.Stops = append(l.Stops, int32(id))
	}
	if eos, ok := b.tok.EOS(); ok && !slices.Contains(l.Stops, int32(eos)) {
		l.Stops = append(l.Stops, int32(eos))
	}
	e.mu.Lock()
	if prev, ok := e.variants[t]; ok {
		l = prev
	} else {
		e.variants[t] = l
	}
	e.mu.Unlock()
	return l, nil
}

// Token is one generated token.
type Token struct {
	ID int32
	// Logprob is the token's log-probability under the model (before
	// temperature and filtering); Top holds the TopLogprobs most likely ids.
	Logprob float64
	Top     []TopToken
}

// TopToken is one alternative with its log-probability.
type TopToken struct {
	ID      int32
	Logprob float64
}

// Request is one sequence to generate.
type Request struct {
	Model  *Loaded
	Prompt []int32
	// MaxTokens defaults to 128 and is capped by the model's context.
	MaxTokens   int
	Temperature float64
	TopP        float64
	Seed        uint64
	// TopLogprobs > 0 fills Token.Top.
	TopLogprobs int
	// OnToken sees every token as it is produced (from the scheduler's
	// goroutine: return quickly); returning false ends the sequence.
	OnToken func(Token) bool
}

// FinishReason says why a sequence ended.
type FinishReason string

// The finish reasons, as OpenAI names them.
const (
	FinishStop   FinishReason = "stop"   // a stop token, or OnToken returned false
	FinishLength FinishReason = "length" // MaxTokens or the context was reached
)

// Result is a finished sequence.
type Result struct {
	Tokens []int32
	Reason FinishReason
	// PromptTokens is len(Prompt).
	PromptTokens int
}

// Seq is a submitted request. Wait for its result with Wait.
type Seq struct {
	req      Request
	ctx      context.Context
	enqueued time.Time
	done     chan struct{}
	res      Result
	err      error

	cache *model.KVCache
	rng   *rand.Rand
	next  int32
	max   int
}

// Submit queues r. It returns ErrBusy at once when MaxQueue sequences
// already wait.
func (e *Engine) Submit(ctx context.Context, r Request) (*Seq, error) {
	if len(r.Prompt) == 0 {
		return nil, errors.New("generate: empty prompt")
	}
	if r.MaxTokens <= 0 {
		r.MaxTokens = 128
	}
	room := r.Model.Model.Rope.MaxPos - len(r.Prompt)
	if room <= 0 {
		return nil, fmt.Errorf("%w: prompt of %d tokens leaves no room in the model's context of %d", ErrContext, len(r.Prompt), r.Model.Model.Rope.MaxPos)
	}
	s := &Seq{req: r, ctx: ctx, enqueued: time.Now(), done: make(chan struct{}), max: min(r.MaxTokens, room)}
	s.res.PromptTokens = len(r.Prompt)
	select {
	case e.queue <- s:
		return s, nil
	case <-e.stop:
		return nil, errors.New("generate: engine closed")
	default:
		return nil, ErrBusy
	}
}

// ErrContext is returned for a prompt that does not fit the model's context.
var ErrContext = errors.New("context length exceeded")

// Wait blocks until s ends and returns its result.
func (s *Seq) Wait() (Result, error) {
	<-s.done
	return s.res, s.err
}

func (s *Seq) finish(reason FinishReason, err error) {
	s.res.Reason, s.err = reason, err
	s.cache = nil
	close(s.done)
}

// loop is the scheduler: admit waiting sequences (prefill each), then one
// batched decode step per model over every active sequence.
func (e *Engine) loop() {
	defer e.wg.Done()
	var active []*Seq
	for {
		if len(active) == 0 {
			select {
			case s := <-e.queue:
				active = e.admit(active, s)
			case <-e.stop:
				return
			}
		}
		for len(active) < e.opt.MaxBatch {
			select {
			case s := <-e.queue:
				active = e.admit(active, s)
				continue
			default:
			}
			break
		}
		select {
		case <-e.stop:
			for _, s := range active {
				s.finish("", errors.New("generate: engine closed"))
			}
			return
		default:
		}
		active = e.step(active)
	}
}

// admit prefills s and samples its first token; it returns active with s
// added unless s already ended.
func (e *Engine) admit(active []*Seq, s *Seq) []*Seq {
	if err := s.ctx.Err(); err != nil {
		s.finish("", err)
		return active
	}
	if time.Since(s.enqueued) > e.opt.QueueTimeout {
		s.finish("", ErrBusy)
		return active
	}
	m := s.req.Model.Model
	s.cache = m.NewCache(len(s.req.Prompt) + s.max)
	seed := s.req.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s.rng = rand.New(rand.NewPCG(seed, 0x6e6))
	logits, err := m.Forward(s.cache, s.req.Prompt, false)
	if err != nil {
		s.finish("", err)
		return active
	}
	if e.emit(s, logits) {
		return append(active, s)
	}
	return active
}

// emit samples the next token of s from logits, reports it and says
// whether s goes on.
func (e *Engine) emit(s *Seq, logits []float32) bool {
	if err := s.ctx.Err(); err != nil {
		s.finish("", err)
		return false
	}
	tok := Token{}
	if s.req.TopLogprobs >= 0 {
		tok.Logprob, tok.Top = logprobs(logits, s.req.TopLogprobs)
	}
	o := model.GenerateOptions{Temperature: s.req.Temperature, TopP: s.req.TopP}
	id := model.Sample(logits, nil, o, s.rng)
	tok.ID = id
	if s.req.TopLogprobs >= 0 {
		tok.Logprob = logprobOf(logits, id)
	}
	s.res.Tokens = append(s.res.Tokens, id)
	keep := s.req.OnToken == nil || s.req.OnToken(tok)
	switch {
	case !keep || slices.Contains(s.req.Model.Stops, id):
		s.finish(FinishStop, nil)
		return false
	case len(s.res.Tokens) >= s.max:
		s.finish(FinishLength, nil)
		return false
	}
	s.next = id
	return true
}

// step decodes one token for every active sequence, one batch per model.
func (e *Engine) step(active []*Seq) []*Seq {
	groups := map[*model.Model][]*Seq{}
	var order []*model.Model
	for _, s := range active {
		m := s.req.Model.Model
		if _, ok := groups[m]; !ok {
			order = append(order, m)
		}
		groups[m] = append(groups[m], s)
	}
	var still []*Seq
	for _, m := range order {
		g := groups[m]
		caches, ids := make([]*model.KVCache, len(g)), make([]int32, len(g))
		for i, s := range g {
			caches[i], ids[i] = s.cache, s.next
		}
		logits, err := m.DecodeBatch(caches, ids)
		if err != nil {
			for _, s := range g {
				s.finish("", err)
			}
			continue
		}
		V := m.Cfg.VocabSize
		for i, s := range g {
			if e.emit(s, logits[i*V:(i+1)*V]) {
				still = append(still, s)
			}
		}
	}
	return still
}

func logsumexp(logits []float32) float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, float64(v))
	}
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - mx)
	}
	return mx + math.Log(s)
}

// logprobOf is log softmax(logits)[id].
func logprobOf(logits []float32, id int32) float64 {
	return float64(logits[id]) - logsumexp(logits)
}

// logprobs returns 0 and the top k ids by log-probability (k may be 0).
func logprobs(logits []float32, k int) (float64, []TopToken) {
	if k <= 0 {
		return 0, nil
	}
	lse := logsumexp(logits)
	idx := make([]int32, len(logits))
	for i := range idx {
		idx[i] = int32(i)
	}
	sort.Slice(idx, func(a, b int) bool {
		return logits[idx[a]] > logits[idx[b]] || (logits[idx[a]] == logits[idx[b]] && idx[a] < idx[b])
	})
	top := make([]TopToken, min(k, len(idx)))
	for i := range top {
		top[i] = TopToken{ID: idx[i], Logprob: float64(logits[idx[i]]) - lse}
	}
	return 0, top
}
