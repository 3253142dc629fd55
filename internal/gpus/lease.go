package gpus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Manager hands out GPUs to the nodes that need one. A node asks for a
// device with at least Need bytes free; it gets the least-loaded free one,
// or waits in a FIFO queue (its position reported through OnWait) until a
// lease is released. A lease is an exclusive flock on Dir/gpu-<uuid>.lock,
// so every whet process on the machine (several workers) sees the same
// leases, and the kernel releases a lease when its process dies (a killed
// worker frees its GPU).
type Manager struct {
	// Dir holds the lock files (default: $XDG_RUNTIME_DIR or the temp dir,
	// /whet-gpus).
	Dir string
	// Devices returns the inventory (default Query).
	Devices func() ([]GPU, error)
	// Poll is how often a waiting node looks again (default 500 ms).
	Poll time.Duration

	mu    sync.Mutex
	queue []*waiter
}

type waiter struct{ id string }

// Lease is one held GPU.
type Lease struct {
	GPU  GPU
	f    *os.File
	once sync.Once
}

// Release frees the GPU (idempotent).
func (l *Lease) Release() {
	l.once.Do(func() {
		syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.f.Close()
	})
}

// Device is the --device name for the lease: cuda:<index>.
func (l *Lease) Device() string { return fmt.Sprintf("cuda:%d", l.GPU.Index) }

// ErrNoGPU is returned by Acquire when the machine has no GPU that could
// ever satisfy the request.
var ErrNoGPU = errors.New("no suitable GPU")

// Default is the process-wide manager.
var Default = &Manager{}

func (m *Manager) dir() string {
	if m.Dir != "" {
		return m.Dir
	}
	base := os.Getenv("XDG_RUNTIME_DIR")
	if base == "" {
		base = os.TempDir()
	}
	return filepath.Join(base, "whet-gpus")
}

// Inventory is the manager's view of the GPUs (Devices, or Query).
func (m *Manager) Inventory() ([]GPU, error) {
	if m.Devices != nil {
		return m.Devices()
	}
	return Query()
}

// Acquire leases a GPU with at least need bytes of memory free for node
// id, waiting (FIFO) while every suitable GPU is leased. onWait, when set,
// is called with the node's 1-based queue position whenever it changes.
// It fails at once with ErrNoGPU when no GPU has need bytes in total.
func (m *Manager) Acquire(ctx context.Context, id string, need int64, onWait func(position int)) (*Lease, error) {
	devices := m.Devices
	if devices == nil {
		devices = Query
	}
	poll := m.Poll
	if poll == 0 {
		poll = 500 * time.Millisecond
	}
	if err := os.MkdirAll(m.dir(), 0o777); err != nil {
		return nil, fmt.Errorf("gpu leases: %w", err)
	}
	w := &waiter{id: id}
	m.mu.Lock()
	m.queue = append(m.queue, w)
	m.mu.Unlock()
	defer m.leave(w)
	last := -1
	for {
		if pos := m.position(w); pos == 1 {
			gs, err := devices()
			if err != nil {
				return nil, err
			}
			fits := false
			for _, g := range gs {
				fits = fits || g.MemoryTotal >= need
			}
			if !fits {
				return nil, fmt.Errorf("%w: node %s needs %.2f GiB of GPU memory; this machine has %s", ErrNoGPU, id, float64(need)/(1<<30), describe(gs))
			}
			if l, err := m.tryLease(gs, need); err != nil || l != nil {
				return l, err
			}
		}
		if pos := m.position(w); pos != last && onWait != nil {
			onWait(pos)
			last = pos
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// tryLease takes the free GPU with the most free memory that fits need, or
// returns nil when all that fit are leased.
func (m *Manager) tryLease(gs []GPU, need int64) (*Lease, error) {
	order := make([]GPU, 0, len(gs))
	for _, g := range gs {
		if g.MemoryTotal-g.MemoryUsed >= need {
			order = append(order, g)
		}
	}
	for len(order) > 0 {
		best := 0
		for i, g := range order {
			if g.MemoryTotal-g.MemoryUsed > order[best].MemoryTotal-order[best].MemoryUsed {
				best = i
			}
		}
		g := order[best]
		order = append(order[:best], order[best+1:]...)
		name := g.UUID
		if name == "" {
			name = fmt.Sprint(g.Index)
		}
		f, err := os.OpenFile(filepath.Join(m.dir(), "gpu-"+name+".lock"), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return nil, fmt.Errorf("gpu lease: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue // leased by someone else
		}
		return &Lease{GPU: g, f: f}, nil
	}
	return nil, nil
}

func (m *Manager) position(w *waiter) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, x := range m.queue {
		if x == w {
			return i + 1
		}
	}
	return 0
}

func (m *Manager) leave(w *waiter) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, x := range m.queue {
		if x == w {
			m.queue = append(m.queue[:i], m.queue[i+1:]...)
			return
		}
	}
}

// Waiting returns the ids of the nodes waiting for a GPU, first first.
func (m *Manager) Waiting() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for _, w := range m.queue {
		ids = append(ids, w.id)
	}
	return ids
}

func describe(gs []GPU) string {
	if len(gs) == 0 {
		return "no GPU"
	}
	s := ""
	for i, g := range gs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("cuda:%d %s %.1f GiB", g.Index, g.Name, float64(g.MemoryTotal)/(1<<30))
	}
	return s
}
