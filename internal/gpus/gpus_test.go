package gpus

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestListWithoutGPU: here (CI) there is no NVML: an empty list, no error,
// and it encodes as [] (what `whet gpus` prints). On a GPU machine it
// checks the fields NVML filled.
func TestList(t *testing.T) {
	gs, err := List()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(gs)
	if _, qerr := Query(); qerr != nil {
		if !errors.Is(qerr, ErrNoNVML) {
			t.Fatalf("Query: %v does not wrap ErrNoNVML", qerr)
		}
		if string(b) != "[]" {
			t.Fatalf("no NVML: List = %s, want []", b)
		}
		t.Logf("no NVML here: %v", qerr)
		return
	}
	t.Logf("GPUs: %s", b)
	for _, g := range gs {
		if g.Name == "" || !strings.HasPrefix(g.UUID, "GPU-") || g.MemoryTotal <= 0 || g.MemoryUsed < 0 || g.MemoryUsed > g.MemoryTotal ||
			g.DriverVersion == "" || g.TemperatureC <= 0 || g.UtilizationGPU < 0 || g.UtilizationGPU > 100 {
			t.Errorf("implausible GPU record %+v", g)
		}
	}
}

func fakeGPUs(gs ...GPU) func() ([]GPU, error) {
	return func() ([]GPU, error) { return gs, nil }
}

const gib = int64(1) << 30

func TestAcquireAssignsWaitsAndReleases(t *testing.T) {
	m := &Manager{Dir: t.TempDir(), Poll: 5 * time.Millisecond, Devices: fakeGPUs(
		GPU{Index: 0, UUID: "GPU-a", MemoryTotal: 80 * gib, MemoryUsed: 70 * gib}, // only 10 GiB free
		GPU{Index: 1, UUID: "GPU-b", MemoryTotal: 80 * gib},
		GPU{Index: 2, UUID: "GPU-c", MemoryTotal: 40 * gib, MemoryUsed: 1 * gib},
	)}
	ctx := context.Background()
	// Most free memory first; a device without enough free memory is skipped.
	l1, err := m.Acquire(ctx, "n1", 30*gib, nil)
	if err != nil || l1.GPU.Index != 1 || l1.Device() != "cuda:1" {
		t.Fatalf("first lease: %+v %v; want cuda:1", l1, err)
	}
	l2, err := m.Acquire(ctx, "n2", 30*gib, nil)
	if err != nil || l2.GPU.Index != 2 {
		t.Fatalf("second lease: %+v %v; want cuda:2", l2, err)
	}
	// Both fitting GPUs are leased: two more nodes wait, in order.
	var mu sync.Mutex
	positions := map[string][]int{}
	got := make(chan *Lease, 2)
	for _, id := range []string{"n3", "n4"} {
		go func() {
			l, err := m.Acquire(ctx, id, 30*gib, func(p int) { mu.Lock(); positions[id] = append(positions[id], p); mu.Unlock() })
			if err != nil {
				t.Error(err)
			}
			got <- l
		}()
		time.Sleep(30 * time.Millisecond) // n3 queues before n4
	}
	if w := m.Waiting(); len(w) != 2 || w[0] != "n3" || w[1] != "n4" {
		t.Fatalf("waiting %v, want [n3 n4]", w)
	}
	select {
	case l := <-got:
		t.Fatalf("got %+v while every fitting GPU is leased", l.GPU)
	case <-time.After(50 * time.Millisecond):
	}
	l2.Release()
	l2.Release() // idempotent
	l3 := <-got
	if l3.GPU.Index != 2 {
		t.Fatalf("after release of cuda:2 the first waiter got cuda:%d", l3.GPU.Index)
	}
	if w := m.Waiting(); len(w) != 1 || w[0] != "n4" {
		t.Fatalf("waiting %v, want [n4]", w)
	}
	l1.Release()
	l4 := <-got
	if l4.GPU.Index != 1 {
		t.Fatalf("n4 got cuda:%d, want cuda:1", l4.GPU.Index)
	}
	mu.Lock()
	if p := positions["n3"]; len(p) == 0 || p[0] != 1 {
		t.Errorf("n3 positions %v, want to start at 1", p)
	}
	if p := positions["n4"]; len(p) == 0 || p[0] != 2 {
		t.Errorf("n4 positions %v, want to start at 2", p)
	}
	mu.Unlock()
	l3.Release()
	l4.Release()

	// More than any GPU has in total: refused at once, with the numbers.
	_, err = m.Acquire(ctx, "big", 100*gib, nil)
	if !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), "100.00 GiB") || !strings.Contains(err.Error(), "cuda:1") {
		t.Errorf("oversized request: %v", err)
	}
	// No GPU at all.
	empty := &Manager{Dir: t.TempDir(), Devices: fakeGPUs()}
	if _, err := empty.Acquire(ctx, "x", 1, nil); !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), "no GPU") {
		t.Errorf("no GPU: %v", err)
	}
	// A waiting node gives up when its context ends.
	l, _ := m.Acquire(ctx, "hold", 70*gib, nil)
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := m.Acquire(cctx, "late", 70*gib, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled wait: %v", err)
	}
	if len(m.Waiting()) != 0 {
		t.Errorf("cancelled waiter still queued: %v", m.Waiting())
	}
	l.Release()
}

// TestKilledWorkerReleasesGPU: a separate process (a worker) leases the only
// GPU and is killed with SIGKILL; the node waiting here gets the GPU.
func TestKilledWorkerReleasesGPU(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorkerHoldsGPU$")
	cmd.Env = append(os.Environ(), "WHET_GPUS_HELPER=1", "WHET_GPUS_DIR="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "holding cuda:0" {
	}
	m := &Manager{Dir: dir, Poll: 10 * time.Millisecond, Devices: fakeGPUs(GPU{Index: 0, UUID: "GPU-only", MemoryTotal: 80 * gib})}
	got := make(chan *Lease, 1)
	waited := make(chan int, 10)
	go func() {
		l, err := m.Acquire(context.Background(), "node", gib, func(p int) { waited <- p })
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	select {
	case l := <-got:
		t.Fatalf("leased %+v while the worker holds it", l)
	case <-time.After(200 * time.Millisecond):
	}
	if p := <-waited; p != 1 {
		t.Errorf("queue position %d, want 1", p)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	select {
	case l := <-got:
		if l.GPU.Index != 0 {
			t.Fatalf("got cuda:%d", l.GPU.Index)
		}
		l.Release()
	case <-time.After(5 * time.Second):
		t.Fatal("the GPU of the killed worker was not released")
	}
}

// TestHelperWorkerHoldsGPU is the worker process of TestKilledWorkerReleasesGPU.
func TestHelperWorkerHoldsGPU(t *testing.T) {
	if os.Getenv("WHET_GPUS_HELPER") != "1" {
		t.Skip("helper process")
	}
	m := &Manager{Dir: os.Getenv("WHET_GPUS_DIR"), Devices: fakeGPUs(GPU{Index: 0, UUID: "GPU-only", MemoryTotal: 80 * gib})}
	l, err := m.Acquire(context.Background(), "worker", gib, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("holding " + l.Device() + "\n")
	time.Sleep(time.Minute)
}

// TestQueueIsSharedAcrossProcesses: a node waiting in another process (an
// agent process) is in this process's Waiting and ahead of a node queued
// here later; once it is killed its place is gone.
func TestQueueIsSharedAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	only := fakeGPUs(GPU{Index: 0, UUID: "GPU-only", MemoryTotal: 80 * gib})
	m := &Manager{Dir: dir, Poll: 10 * time.Millisecond, Devices: only}
	hold, err := m.Acquire(context.Background(), "holder", gib, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Release()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorkerHoldsGPU$")
	cmd.Env = append(os.Environ(), "WHET_GPUS_HELPER=1", "WHET_GPUS_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for i := 0; len(m.Waiting()) == 0; i++ {
		if i > 500 {
			t.Fatal("the other process's waiting node never showed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	positions := make(chan int, 10)
	go m.Acquire(ctx, "mine", gib, func(p int) { positions <- p })
	if p := <-positions; p != 2 {
		t.Errorf("queued behind the other process's node at %d, want 2", p)
	}
	if w := m.Waiting(); len(w) != 2 || w[0] != "worker" || w[1] != "mine" {
		t.Errorf("waiting %v, want [worker mine]", w)
	}
	cmd.Process.Kill()
	cmd.Wait()
	select {
	case p := <-positions:
		if p != 1 {
			t.Errorf("after the other process died: position %d, want 1", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the dead process's place was kept")
	}
	if w := m.Waiting(); len(w) != 1 || w[0] != "mine" {
		t.Errorf("waiting %v, want [mine]", w)
	}
}
