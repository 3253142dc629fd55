package serving

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/engine/model"
)

func stories(t testing.TB) string { return assets.Path(t, "models", "stories260K") }

// TestConcurrentMatchesAlone runs 12 greedy requests with different prompts
// at once (decoded in shared batches) and checks each against Generate on
// the same model alone.
func TestConcurrentMatchesAlone(t *testing.T) {
	t.Parallel()
	e := New(Options{MaxBatch: 8})
	defer e.Close()
	l, err := e.Load(Target{Base: stories(t)})
	if err != nil {
		t.Fatal(err)
	}
	prompts := make([][]int32, 12)
	for i := range prompts {
		prompts[i] = []int32{1}
		for k := range i % 5 {
			prompts[i] = append(prompts[i], int32(300+17*i+k))
		}
	}
	got := make([][]int32, len(prompts))
	var wg sync.WaitGroup
	for i, p := range prompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := e.Submit(context.Background(), Request{Model: l, Prompt: p, MaxTokens: 24})
			if err != nil {
				t.Error(err)
				return
			}
			res, err := s.Wait()
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = res.Tokens
		}()
	}
	wg.Wait()
	m, err := model.Load(stories(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range prompts {
		want, err := m.Generate(context.Background(), p, model.GenerateOptions{MaxNewTokens: 24, Stop: l.Stops}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got[i], want) {
			t.Errorf("prompt %d: batched %v, alone %v", i, got[i], want)
		}
	}
}

// TestStopAndLength checks both finish reasons: a stop token ends the
// sequence with "stop" (the token included), MaxTokens with "length".
func TestStopAndLength(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	defer e.Close()
	l, err := e.Load(Target{Base: stories(t)})
	if err != nil {
		t.Fatal(err)
	}
	run := func(l *Loaded, max int) Result {
		s, err := e.Submit(context.Background(), Request{Model: l, Prompt: []int32{1}, MaxTokens: max})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Wait()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := run(l, 10)
	if r.Reason != FinishLength || len(r.Tokens) != 10 {
		t.Fatalf("got %d tokens, %s; want 10, length", len(r.Tokens), r.Reason)
	}
	stopAt := *l
	stopAt.Stops = []int32{r.Tokens[4]}
	r2 := run(&stopAt, 10)
	i := slices.Index(r.Tokens, r.Tokens[4])
	if r2.Reason != FinishStop || !slices.Equal(r2.Tokens, r.Tokens[:i+1]) {
		t.Fatalf("with stop id %d: %v (%s), want %v (stop)", r.Tokens[4], r2.Tokens, r2.Reason, r.Tokens[:i+1])
	}
}

// TestBusy fills the one batch slot and the queue, then checks the next
// request is refused at once with ErrBusy instead of waiting.
func TestBusy(t *testing.T) {
	t.Parallel()
	e := New(Options{MaxBatch: 1, MaxQueue: 2})
	defer e.Close()
	l, err := e.Load(Target{Base: stories(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	block := make(chan struct{})
	var seqs []*Seq
	busy := 0
	for range 10 {
		s, err := e.Submit(ctx, Request{Model: l, Prompt: []int32{1}, MaxTokens: 400, OnToken: func(Token) bool { <-block; return true }})
		if errors.Is(err, ErrBusy) {
			busy++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s)
	}
	// One sequence runs (blocked in OnToken), at most two wait.
	if busy < 7 {
		t.Errorf("%d of 10 requests refused, want at least 7", busy)
	}
	close(block)
	cancel()
	for _, s := range seqs {
		s.Wait()
	}
}

// TestAdaptersShareBase serves two adapters on one base: the base weights
// are the same slices, the outputs differ from each other and the base.
func TestAdaptersShareBase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m, err := model.Load(stories(t))
	if err != nil {
		t.Fatal(err)
	}
	var adapters []string
	for i, scale := range []float64{0.15, 0.15} {
		if err := m.AddLoRA(model.LoRAConfig{Rank: 2, Alpha: 4, Targets: []string{"all-linear"}}, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
		for _, p := range m.LoRAParams() {
			for j := range p.Data {
				p.Data[j] = float32(scale * math.Sin(float64(j*(i+2))))
			}
		}
		a := dir + "/a" + string(rune('0'+i))
		if err := m.SaveAdapter(a, model.LoRAConfig{Rank: 2, Alpha: 4, Targets: []string{"all-linear"}}, stories(t)); err != nil {
			t.Fatal(err)
		}
		adapters = append(adapters, a)
	}
	e := New(Options{})
	defer e.Close()
	base, _ := e.Load(Target{Base: stories(t)})
	a0, err := e.Load(Target{Base: stories(t), Adapter: adapters[0]})
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := e.Load(Target{Base: stories(t), Adapter: adapters[1]})
	if &a0.Model.Layers[0].Q.W.Data[0] != &base.Model.Layers[0].Q.W.Data[0] || &a1.Model.Embed.Data[0] != &base.Model.Embed.Data[0] {
		t.Fatal("adapters do not share the base weights")
	}
	if base.Model.Layers[0].Q.LoRA != nil {
		t.Fatal("loading an adapter changed the base model")
	}
	out := map[string]bool{}
	for _, l := range []*Loaded{base, a0, a1} {
		s, _ := e.Submit(context.Background(), Request{Model: l, Prompt: []int32{1}, MaxTokens: 12})
		r, err := s.Wait()
		if err != nil {
			t.Fatal(err)
		}
		out[string(fmtIDs(r.Tokens))] = true
	}
	if len(out) != 3 {
		t.Errorf("base and two adapters gave %d distinct outputs, want 3", len(out))
	}
}

func fmtIDs(ids []int32) []byte {
	var b []byte
	for _, id := range ids {
		b = append(b, byte(id), byte(id>>8), ',')
	}
	return b
}
