package redisevents_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/events/redisevents"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/testsvc"
)

// gate is a TCP proxy to Redis that can be shut: while it is, its port is
// closed (every connection through it is cut and new ones are refused), as
// when Redis is down for the one process that reaches Redis through it.
type gate struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	l      net.Listener
	conns  map[net.Conn]bool
}

// newGate opens a gate to the Redis of redisURL and returns it with the
// URL through it.
func newGate(t *testing.T, redisURL string) (*gate, string) {
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{t: t, addr: "127.0.0.1:0", target: u.Host, conns: map[net.Conn]bool{}}
	g.open()
	t.Cleanup(g.shut)
	u.Host = g.addr
	return g, u.String()
}

// open listens again on the gate's port.
func (g *gate) open() {
	l, err := net.Listen("tcp", g.addr)
	if err != nil {
		g.t.Fatalf("reopen %s: %v", g.addr, err)
	}
	g.mu.Lock()
	g.l, g.addr = l, l.Addr().String()
	g.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", g.target)
			if err != nil {
				c.Close()
				continue
			}
			g.mu.Lock()
			if g.l != l { // shut meanwhile
				g.mu.Unlock()
				c.Close()
				up.Close()
				return
			}
			g.conns[c], g.conns[up] = true, true
			g.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

// shut closes the port and cuts every connection through it.
func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.l != nil {
		g.l.Close()
		g.l = nil
	}
	for c := range g.conns {
		c.Close()
	}
	clear(g.conns)
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// While Redis is down for a process, every job whose announcement fails is
// owed one wake-up however often it fails, and at most maxOwed jobs are
// owed one each: past that the process owes every watcher one, says so in
// its log, and when Redis answers again every subscriber elsewhere of every
// job it failed to announce wakes.
func TestOwedWakeUpsBounded(t *testing.T) {
	redisURL := testsvc.NeedRedis(t)
	for _, tc := range []struct {
		name           string
		maxOwed        int
		jobs, failures int // failed announcements of each job
		wantOwed       int
		wantEveryone   bool
	}{
		{"one job failing often is owed once", 100, 1, 50, 1, false},
		{"jobs within the cap are owed each", 4, 4, 3, 4, false},
		{"jobs past the cap: every watcher is owed", 4, 12, 3, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			g, gated := newGate(t, redisURL)
			var logs syncBuffer
			a, err := redisevents.Open(ctx, gated, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			redisevents.SetMaxOwed(a, tc.maxOwed)
			b := fanout(redisURL)(t) // another process, whose Redis stays up

			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			var jobs []string
			woke := map[string]chan struct{}{}
			for range tc.jobs {
				job := store.NewID("job")
				ch := make(chan struct{}, 1)
				jobs, woke[job] = append(jobs, job), ch
				if err := b.Watch(wctx, job, func([]store.Event) {
					select {
					case ch <- struct{}{}:
					default:
					}
				}); err != nil {
					t.Fatal(err)
				}
			}

			g.shut()
			for range tc.failures {
				for _, job := range jobs {
					if err := a.Publish(ctx, job, nil); err == nil {
						t.Fatalf("Publish(%s) with Redis down: no error", job)
					}
				}
			}
			if n, all := redisevents.Owed(a); n != tc.wantOwed || all != tc.wantEveryone {
				t.Errorf("owed while Redis is down: %d jobs, everyone %v; want %d, %v", n, all, tc.wantOwed, tc.wantEveryone)
			}
			const capMsg = "too many jobs owed a wake-up"
			if got := strings.Contains(logs.String(), capMsg); got != tc.wantEveryone {
				t.Errorf("log says %q: %v, want %v; log:\n%s", capMsg, got, tc.wantEveryone, logs.String())
			}

			g.open()
			deadline := time.After(10 * time.Second)
			for _, job := range jobs {
				select {
				case <-woke[job]:
				case <-deadline:
					t.Fatalf("job %s: its subscriber elsewhere was not woken once Redis answered", job)
				}
			}
			for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
				n, all := redisevents.Owed(a)
				if n == 0 && !all {
					break
				}
				if time.Since(start) > 5*time.Second {
					t.Fatalf("still owed after Redis answered: %d jobs, everyone %v", n, all)
				}
			}
		})
	}
}
