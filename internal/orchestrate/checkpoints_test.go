package orchestrate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agents/train"
	"github.com/whetstone/whetstone/internal/assets"
	"github.com/whetstone/whetstone/internal/blob"
	"github.com/whetstone/whetstone/internal/blob/fsblob"
)

// remoteStore hides fsblob's local shortcuts: blobs are reached only
// through the interface, as on S3, and nothing is shared with the "worker".
type remoteStore struct{ blob.Store }

// steps records an attempt's events.
type steps struct {
	mu               sync.Mutex
	metrics          []int // steps of metric events, in order
	losses           map[int]float64
	resumed          int // checkpoint_step of "resumed from checkpoint", -1 if none
	firstAfterResume int
	onStep           func(int)
}

func newSteps() *steps { return &steps{losses: map[int]float64{}, resumed: -1} }

func (s *steps) Log(_ slog.Level, msg string, attrs ...slog.Attr) {
	if msg != "resumed from checkpoint" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range attrs {
		if a.Key == "checkpoint_step" {
			s.resumed = int(a.Value.Int64())
		}
	}
}
func (s *steps) Progress(float64, time.Duration, string) {}
func (s *steps) Metrics(step int, v map[string]float64) {
	s.mu.Lock()
	s.metrics = append(s.metrics, step)
	s.losses[step] = v["loss"]
	if s.resumed >= 0 && s.firstAfterResume == 0 && step > s.resumed {
		s.firstAfterResume = step
	}
	f := s.onStep
	s.mu.Unlock()
	if f != nil {
		f(step)
	}
}

// killed stops saving once the worker is "killed": a SIGKILLed process
// writes nothing more, not even the checkpoint a cancel would write.
type killed struct {
	agent.Checkpoints
	dead *bool
}

func (k killed) Save(ctx context.Context, step int, dir string) error {
	if *k.dead {
		return nil
	}
	return k.Checkpoints.Save(ctx, step, dir)
}

func trainEnv(t *testing.T, data string, emit agent.Emitter, ck agent.Checkpoints) *agent.Env {
	return &agent.Env{
		JobID: "job_x", NodeID: "train", Attempt: 1,
		Params: agent.Params{"base_model": assets.Path(t, "models", "stories260K"), "method": "lora",
			"epochs": 5.0, "batch_size": 4.0, "learning_rate": 5e-3, "schedule": "cosine", "warmup_steps": 2.0,
			"max_seq_len": 64.0, "checkpoint_every": 5.0, "seed": 7.0,
			"lora": map[string]any{"rank": 4.0, "alpha": 8.0, "dropout": 0.1, "targets": "all-linear"}},
		Inputs: []agent.Artifact{{Type: agent.Dataset, Name: "train", Path: data}},
		OutDir: t.TempDir(), Emit: emit, Checkpoints: ck,
	}
}

func writeTrainData(t *testing.T) string {
	dir := t.TempDir()
	f, _ := os.Create(filepath.Join(dir, "train.jsonl"))
	for i := range 24 {
		p := fmt.Sprintf("Question %d: what did the dog say?\nAnswer:", i)
		b, _ := json.Marshal(map[string]string{"prompt": p, "text": p + " The dog said woof."})
		f.Write(append(b, '\n'))
	}
	f.Close()
	return dir
}

// TestTrainingResumesOnAnotherWorker: a 30-step run (checkpoint every 5) is
// killed at step 13; the next attempt, in a fresh scratch folder with only
// the blob store in common, resumes at step 11 and ends with exactly the
// loss of an uninterrupted run with the same seed; no step is reported twice.
func TestTrainingResumesOnAnotherWorker(t *testing.T) {
	ctx := context.Background()
	data := writeTrainData(t)
	fs, err := fsblob.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blobs := remoteStore{fs}

	ref := newSteps()
	out, err := train.New().Run(ctx, trainEnv(t, data, ref, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := out[0].Meta["final_loss"].(float64)
	if n := len(ref.metrics); n != 30 {
		t.Fatalf("uninterrupted run: %d steps, want 30", n)
	}

	ck := newCheckpoints(blobs, "0123abcd")
	dead := false
	first := newSteps()
	kctx, kill := context.WithCancel(ctx)
	first.onStep = func(step int) {
		if step == 13 {
			dead = true
			kill()
		}
	}
	if _, err := train.New().Run(kctx, trainEnv(t, data, first, killed{ck, &dead})); err == nil {
		t.Fatal("the killed attempt succeeded")
	}
	if l, _ := blobs.List(ctx, CheckpointPrefix+"0123abcd/checkpoint-10/"); len(l) == 0 {
		t.Fatal("no checkpoint-10 in the blob store")
	}

	// Another worker: fresh scratch; the emitter drops steps the job showed.
	second := newSteps()
	env := trainEnv(t, data, skipThrough{second, 13}, newCheckpoints(blobs, "0123abcd"))
	env.Attempt = 2
	out2, err := train.New().Run(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if second.resumed != 10 {
		t.Fatalf("resumed from checkpoint %d, want 10", second.resumed)
	}
	if second.firstAfterResume != 14 || second.metrics[0] != 14 {
		t.Errorf("first step shown after the resume: %d (events %v), want 14: 11..13 were shown before the kill", second.firstAfterResume, second.metrics)
	}
	got := out2[0].Meta["final_loss"].(float64)
	if got != want {
		t.Errorf("final loss %v after resume, uninterrupted %v", got, want)
	}
	// The curve the job shows (first attempt then second) is the
	// uninterrupted one, each step once.
	all := append(append([]int(nil), first.metrics...), second.metrics...)
	for i, s := range all {
		if s != i+1 {
			t.Fatalf("steps shown %v: not 1..30 each once", all)
		}
		l := first.losses[s]
		if s > 13 {
			l = second.losses[s]
		}
		if l != ref.losses[s] {
			t.Errorf("step %d loss %v, uninterrupted %v", s, l, ref.losses[s])
		}
	}

	// A re-run in a new job (nothing shown yet) resumes too, and shows the
	// curve up to the checkpoint from it.
	third := newSteps()
	if _, err := train.New().Run(ctx, trainEnv(t, data, third, newCheckpoints(blobs, "0123abcd"))); err != nil {
		t.Fatal(err)
	}
	if third.resumed < 10 || len(third.metrics) != 30 {
		t.Errorf("re-run: resumed at %d with %d steps shown", third.resumed, len(third.metrics))
	}
}

// skipThrough is the orchestrator's emitter rule: metric steps the job
// already showed are dropped.
type skipThrough struct {
	*steps
	last int
}

func (s skipThrough) Metrics(step int, v map[string]float64) {
	if step <= s.last {
		return
	}
	s.steps.Metrics(step, v)
}
