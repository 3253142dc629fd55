package gpus

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Manager hands out GPUs to the nodes that need one. A node asks for a
// device with at least Need bytes free; it gets the least-loaded free one,
// or waits in a FIFO queue (its position reported through OnWait) until a
// lease is released. A lease is an exclusive flock on Dir/gpu-<uuid>.lock,
// so every whet process on the machine (several workers, and the agent
// processes they run nodes in) sees the same leases, and the kernel releases
// a lease when its process dies (a killed worker frees its GPU). The queue
// is shared the same way: a waiting node holds an flock on its
// Dir/wait-<time>-... file, named in arrival order; a file whose lock is
// free belongs to a dead process and is removed.
type Manager struct {
	// Dir holds the lock files (default: $XDG_RUNTIME_DIR or the temp dir,
	// /whet-gpus).
	Dir string
	// Devices returns the inventory (default Query).
	Devices func() ([]GPU, error)
	// Poll is how often a waiting node looks again (default 500 ms).
	Poll time.Duration

	mu sync.Mutex // serialises queue files of this process
}

// waiter is a node's place in the queue: its locked file.
type waiter struct {
	name string // file name in Dir
	f    *os.File
}

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
	w, err := m.enqueue(id)
	if err != nil {
		return nil, err
	}
	defer func() { m.leave(w) }()
	last := -1
	for {
		pos := m.position(w)
		if pos == 0 {
			// Its file went (a temp-folder cleaner): queue again.
			m.leave(w)
			again, err := m.enqueue(id)
			if err != nil {
				return nil, err
			}
			w = again
			continue
		}
		if pos == 1 {
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
		if pos = m.position(w); pos != last && onWait != nil {
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

// enqueue adds id at the end of the queue: a file created and locked under
// a temporary name, then renamed, so no one sees it unlocked.
func (m *Manager) enqueue(id string) (*waiter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var rnd [4]byte
	rand.Read(rnd[:])
	name := fmt.Sprintf("wait-%020d-%d-%x", time.Now().UnixNano(), os.Getpid(), rnd)
	tmp := filepath.Join(m.dir(), "tmp-"+name)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("gpu queue: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("gpu queue: lock: %w", err)
	}
	if _, err := f.WriteString(id); err == nil {
		err = os.Rename(tmp, filepath.Join(m.dir(), name))
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("gpu queue: %w", err)
	}
	return &waiter{name: name, f: f}, nil
}

func (m *Manager) leave(w *waiter) {
	os.Remove(filepath.Join(m.dir(), w.name))
	w.f.Close() // and its lock
}

// queue returns the live waiters' file names and node ids, first first,
// removing the files of dead processes.
func (m *Manager) queue() (names, ids []string) {
	entries, err := os.ReadDir(m.dir())
	if err != nil {
		return nil, nil
	}
	for _, e := range entries { // sorted by name: by arrival
		if !strings.HasPrefix(e.Name(), "wait-") {
			continue
		}
		p := filepath.Join(m.dir(), e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB) == nil {
			// Nobody holds it: its waiter died.
			os.Remove(p)
			f.Close()
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(f, 1024))
		f.Close()
		names = append(names, e.Name())
		ids = append(ids, string(b))
	}
	return names, ids
}

// position is w's 1-based place in the queue (0: not queued).
func (m *Manager) position(w *waiter) int {
	names, _ := m.queue()
	for i, n := range names {
		if n == w.name {
			return i + 1
		}
	}
	return 0
}

// Waiting returns the ids of the nodes waiting for a GPU on this machine,
// in every whet process, first first.
func (m *Manager) Waiting() []string {
	_, ids := m.queue()
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
