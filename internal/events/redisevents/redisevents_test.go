package redisevents_test

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/events/eventstest"
	"github.com/whetstone/whetstone/internal/events/redisevents"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/testsvc"
)

func fanout(url string) func(t *testing.T) events.Fanout {
	return func(t *testing.T) events.Fanout {
		f, err := redisevents.Open(context.Background(), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
}

// TestContract runs the events contract with subscribers that never poll
// (an hour between polls): every event reaches the other process through
// Redis, or the suite times out.
func TestContract(t *testing.T) {
	url := testsvc.NeedRedis(t)
	eventstest.Run(t, func(t *testing.T) (a, b *events.Bus, st store.Store, job string) {
		return eventstest.Pair(t, time.Hour, fanout(url))
	})
}

func TestBadURL(t *testing.T) {
	ctx := context.Background()
	if _, err := redisevents.Open(ctx, "redis://127.0.0.1:notaport/0", nil); err == nil {
		t.Error("bad port accepted")
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	_, err := redisevents.Open(ctx, "redis://"+dead+"/0", nil)
	if err == nil || !strings.Contains(err.Error(), "Redis does not answer") {
		t.Errorf("unreachable Redis: %v", err)
	}
}

// TestRedisRestart stops a private Redis while events are published and
// starts it again: the subscriber on the other process gets every event, in
// order, without a gap or a duplicate.
func TestRedisRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops its own Redis")
	}
	testsvc.NeedRedis(t)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for range 100 {
			if testsvc.Reachable("127.0.0.1:" + port) {
				return cmd
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("redis-server did not start")
		return nil
	}
	cmd := start()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	url := "redis://127.0.0.1:" + port + "/0"
	a, b, _, job := eventstest.Pair(t, 100*time.Millisecond, fanout(url))
	ctx := context.Background()
	sub := b.Subscribe(job, 0)
	defer sub.Close()
	pub := func(n int) {
		for range n {
			if err := a.Publish(ctx, events.New(job, "n", events.Log, events.LogData{Msg: "x"})); err != nil {
				t.Fatal(err) // the store write must not fail because Redis is down
			}
		}
	}
	got := make(chan []store.Event, 1)
	go func() {
		var all []store.Event
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for len(all) < 60 {
			evs, err := sub.Next(cctx, time.Second)
			if err != nil {
				break
			}
			all = append(all, evs...)
		}
		got <- all
	}()
	pub(20)
	cmd.Process.Kill()
	cmd.Wait()
	pub(20) // Redis is down: stored, fan-out fails quietly
	time.Sleep(500 * time.Millisecond)
	cmd = start()
	pub(20)
	all := <-got
	if len(all) != 60 {
		t.Fatalf("got %d events, want 60", len(all))
	}
	for i, e := range all {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	// After the restart the fan-out works again: a new subscriber that
	// never polls gets events through Redis.
	a2, b2, _, job2 := eventstest.Pair(t, time.Hour, fanout(url))
	s2 := b2.Subscribe(job2, 0)
	defer s2.Close()
	a2.Publish(ctx, events.New(job2, "n", events.Log, events.LogData{Msg: "y"}))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if evs, err := s2.Next(cctx, 10*time.Second); err != nil || len(evs) != 1 {
		t.Fatalf("after restart: %v, %v", evs, err)
	}
}
