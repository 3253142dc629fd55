package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/whetstone/whetstone/internal/safetensors"
)

// state is trainer_state.json.
type state struct {
	Step        int      `json:"step"`
	TotalSteps  int      `json:"total_steps"`
	Method      string   `json:"method"`
	DoubleQuant bool     `json:"double_quant,omitempty"`
	Seed        uint64   `json:"seed"`
	BatchSize   int      `json:"batch_size"`
	GradAccum   int      `json:"grad_accum"`
	MaxSeqLen   int      `json:"max_seq_len"`
	Packing     bool     `json:"packing"`
	Schedule    string   `json:"schedule"`
	LR          float64  `json:"learning_rate"`
	Warmup      int      `json:"warmup_steps"`
	InitialVal  *float64 `json:"initial_val_loss,omitempty"`
	History     []Record `json:"history"`
	// RNG: every random draw is a function of Seed and a counter, so the
	// counter (micro-batches consumed) is the whole generator state.
	RNG struct {
		Kind       string `json:"kind"`
		Seed       uint64 `json:"seed"`
		MicroBatch int    `json:"micro_batches_done"`
	} `json:"rng"`
	// DataPosition is where the next micro-batch comes from.
	DataPosition struct {
		Epoch int `json:"epoch"`
		Batch int `json:"batch"`
	} `json:"data_position"`
}

// SaveCheckpoint writes dir/checkpoint-<step>/ holding the trainable weights
// (and, for LoRA, a PEFT adapter folder's files), the AdamW moments and
// trainer_state.json. It returns the checkpoint folder.
func (t *Trainer) SaveCheckpoint(dir string) (string, error) {
	if t.g != nil {
		if err := t.g.SyncToHost(); err != nil {
			return "", fmt.Errorf("checkpoint: %w", err)
		}
		if err := t.g.Moments(t.mom, t.vel, false); err != nil {
			return "", fmt.Errorf("checkpoint: %w", err)
		}
	}
	cp := filepath.Join(dir, fmt.Sprintf("checkpoint-%d", t.step))
	tmp := cp + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	var ws, os_ []safetensors.Tensor
	for i, p := range t.params {
		ws = append(ws, safetensors.F32Tensor(p.Name, p.Shape, p.Data))
		os_ = append(os_, safetensors.F32Tensor(p.Name+".exp_avg", p.Shape, t.mom[i]), safetensors.F32Tensor(p.Name+".exp_avg_sq", p.Shape, t.vel[i]))
	}
	for name, ts := range map[string][]safetensors.Tensor{"trainable.safetensors": ws, "optimizer.safetensors": os_} {
		var buf bytes.Buffer
		if err := safetensors.Write(&buf, ts, nil); err != nil {
			return "", fmt.Errorf("checkpoint: %w", err)
		}
		if err := os.WriteFile(filepath.Join(tmp, name), buf.Bytes(), 0o644); err != nil {
			return "", fmt.Errorf("checkpoint: %w", err)
		}
	}
	if t.cfg.IsLoRA() {
		if err := t.m.SaveAdapter(tmp, t.cfg.LoRA, t.m.Dir); err != nil {
			return "", fmt.Errorf("checkpoint: %w", err)
		}
	}
	st := state{Step: t.step, TotalSteps: t.TotalSteps(), Method: t.cfg.Method, DoubleQuant: t.cfg.DoubleQuant, Seed: t.cfg.Seed, BatchSize: t.cfg.BatchSize,
		GradAccum: t.cfg.GradAccum, MaxSeqLen: t.cfg.MaxSeqLen, Packing: t.cfg.Packing, Schedule: t.cfg.Schedule,
		LR: t.cfg.LearningRate, Warmup: t.cfg.WarmupSteps, InitialVal: t.initialVal, History: t.history}
	st.RNG.Kind, st.RNG.Seed, st.RNG.MicroBatch = "counter(pcg+splitmix)", t.cfg.Seed, t.step*t.cfg.GradAccum
	if per := len(t.epochBatches(0)); per > 0 {
		st.DataPosition.Epoch, st.DataPosition.Batch = st.RNG.MicroBatch/per, st.RNG.MicroBatch%per
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "trainer_state.json"), b, 0o644); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	os.RemoveAll(cp)
	if err := os.Rename(tmp, cp); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	t.log.Info("checkpoint written", "dir", cp, "step", t.step)
	if t.OnCheckpoint != nil {
		t.OnCheckpoint(cp)
	}
	return cp, nil
}

// LatestCheckpoint returns the checkpoint-<n> folder in dir with the largest
// n, or "" if there is none.
func LatestCheckpoint(dir string) string {
	ents, _ := os.ReadDir(dir)
	type c struct {
		n    int
		path string
	}
	var cs []c
	for _, e := range ents {
		if s, ok := strings.CutPrefix(e.Name(), "checkpoint-"); ok && e.IsDir() {
			if n, err := strconv.Atoi(s); err == nil {
				cs = append(cs, c{n, filepath.Join(dir, e.Name())})
			}
		}
	}
	if len(cs) == 0 {
		return ""
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].n < cs[j].n })
	return cs[len(cs)-1].path
}

// Resume restores weights, optimiser moments, schedule position and history
// from a checkpoint folder written by SaveCheckpoint with the same config.
func (t *Trainer) Resume(cp string) error {
	b, err := os.ReadFile(filepath.Join(cp, "trainer_state.json"))
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("resume: parse %s: %w", filepath.Join(cp, "trainer_state.json"), err)
	}
	c := t.cfg
	for _, f := range []struct {
		name      string
		got, want any
	}{{"method", st.Method, c.Method}, {"double_quant", st.DoubleQuant, c.DoubleQuant}, {"seed", st.Seed, c.Seed}, {"batch_size", st.BatchSize, c.BatchSize},
		{"grad_accum", st.GradAccum, c.GradAccum}, {"max_seq_len", st.MaxSeqLen, c.MaxSeqLen}, {"packing", st.Packing, c.Packing}} {
		if f.got != f.want {
			return fmt.Errorf("resume from %s: field %s is %v in the checkpoint but %v now", cp, f.name, f.got, f.want)
		}
	}
	for _, name := range []string{"trainable.safetensors", "optimizer.safetensors"} {
		f, err := safetensors.Open(filepath.Join(cp, name))
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		for i, p := range t.params {
			dsts := map[string][]float32{p.Name: p.Data}
			if name == "optimizer.safetensors" {
				dsts = map[string][]float32{p.Name + ".exp_avg": t.mom[i], p.Name + ".exp_avg_sq": t.vel[i]}
			}
			for n, dst := range dsts {
				d, _, err := f.Float32(n)
				if err != nil {
					f.Close()
					return fmt.Errorf("resume from %s: %w", cp, err)
				}
				if len(d) != len(dst) {
					f.Close()
					return fmt.Errorf("resume from %s: tensor %s has %d elements, want %d", cp, n, len(d), len(dst))
				}
				copy(dst, d)
			}
		}
		f.Close()
	}
	t.step, t.history, t.initialVal = st.Step, st.History, st.InitialVal
	if t.g != nil {
		if err := t.g.UploadTrainable(); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		if err := t.g.Moments(t.mom, t.vel, true); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
	}
	return nil
}

// History returns the loss curve so far.
func (t *Trainer) History() []Record { return t.history }
