//go:build integration

package redisevents_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/events/eventstest"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/testsvc"
)

// proxy is a TCP proxy to Redis standing for one process's network path:
// delay holds each chunk a client sends for that long (a slow link), and
// while drop is set what clients send is discarded (a link that stalls).
type proxy struct {
	addr  string
	delay atomic.Int64 // nanoseconds
	drop  atomic.Bool
}

// newProxy returns a proxy to the Redis of redisURL and the URL through it.
func newProxy(t testing.TB, redisURL string) (*proxy, string) {
	t.Helper()
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: l.Addr().String()}
	target := u.Host
	var conns sync.WaitGroup
	t.Cleanup(func() { l.Close(); conns.Wait() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			conns.Add(2)
			go func() { // client to Redis: delayed or dropped
				defer conns.Done()
				defer up.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 && !p.drop.Load() {
						time.Sleep(time.Duration(p.delay.Load()))
						if _, err := up.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() { // Redis to client
				defer conns.Done()
				defer c.Close()
				io.Copy(c, up)
			}()
		}
	}()
	u.Host = p.addr
	return p, u.String()
}

// final is a job's last event, as the orchestrator publishes it.
func final(job string) *store.Event {
	return events.New(job, "", events.Status, events.StatusData{Status: store.Succeeded})
}

// receiveFinal reads sub until the final event, then sends when it came.
func receiveFinal(sub *events.Subscription) <-chan time.Time {
	got := make(chan time.Time, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*events.SafetyPoll)
		defer cancel()
		for {
			evs, err := sub.Next(ctx, time.Minute)
			if err != nil {
				return
			}
			for _, e := range evs {
				if events.IsFinal(e) {
					got <- time.Now()
					return
				}
			}
		}
	}()
	return got
}

// within waits for the final event, failing past limit; it returns the
// time from published to received.
func within(t *testing.T, got <-chan time.Time, published time.Time, limit time.Duration) time.Duration {
	t.Helper()
	select {
	case at := <-got:
		d := at.Sub(published)
		if d > limit {
			t.Errorf("the final event reached the other process after %s, want within %s (the safety poll is %s)", d.Round(time.Millisecond), limit, events.SafetyPoll)
		}
		return d
	case <-time.After(3 * events.SafetyPoll):
		t.Fatalf("the final event never reached the other process")
		return 0
	}
}

// promptly is how late the last event of a stream may reach a subscriber
// of another process: well under the safety poll, which must not be what
// delivers it.
const promptly = time.Second

// TestSecondSubscriberDuringWatch: a second subscriber of a job that
// arrives while the first one's watch is still finding the stream's end
// (over a link that holds each request 300ms) gets the last event,
// published in that window, as soon as the watch listens.
func TestSecondSubscriberDuringWatch(t *testing.T) {
	redisURL := testsvc.NeedRedis(t)
	slow, slowURL := newProxy(t, redisURL)
	a, b, _, job := eventstest.Pair(t, 500*time.Millisecond, fanout(redisURL))
	b.SetFanout(fanout(slowURL)(t))
	slow.delay.Store(int64(300 * time.Millisecond))
	ctx := context.Background()
	first := make(chan *events.Subscription, 1)
	go func() { first <- b.Subscribe(job, 0) }()
	time.Sleep(100 * time.Millisecond) // the first watch waits for Redis
	second := make(chan *events.Subscription, 1)
	got := make(chan time.Time, 1)
	go func() {
		s := b.Subscribe(job, 0)
		second <- s
		got <- <-receiveFinal(s)
	}()
	time.Sleep(50 * time.Millisecond) // the second subscriber could read the store
	slow.delay.Store(0)
	published := time.Now()
	if err := a.Publish(ctx, final(job)); err != nil {
		t.Fatal(err)
	}
	d := within(t, got, published, promptly)
	(<-first).Close()
	(<-second).Close()
	t.Logf("publish to receive: %s", d.Round(time.Millisecond))
}

// TestPublishAfterStalledLink: the publishing process's link to Redis
// stalls (a publish times out) and comes back; the job's last event,
// published right after, reaches the other process at once, not at its
// safety poll.
func TestPublishAfterStalledLink(t *testing.T) {
	redisURL := testsvc.NeedRedis(t)
	link, linkURL := newProxy(t, redisURL)
	a, b, _, job := eventstest.Pair(t, 500*time.Millisecond, fanout(redisURL))
	a.SetFanout(fanout(linkURL)(t))
	ctx := context.Background()
	sub := b.Subscribe(job, 0)
	defer sub.Close()
	got := receiveFinal(sub)
	for range 5 {
		if err := a.Publish(ctx, events.New(job, "n", events.Log, events.LogData{Msg: "x"})); err != nil {
			t.Fatal(err)
		}
	}
	link.drop.Store(true)
	// Stored; the announcement times out (logged, not an error).
	if err := a.Publish(ctx, events.New(job, "n", events.Log, events.LogData{Msg: "lost on the link"})); err != nil {
		t.Fatal(err)
	}
	link.drop.Store(false)
	published := time.Now()
	if err := a.Publish(ctx, final(job)); err != nil {
		t.Fatal(err)
	}
	d := within(t, got, published, promptly)
	t.Logf("publish to receive: %s", d.Round(time.Millisecond))
}

// TestLastEventLatency measures how long the last event of a stream takes
// from Publish in one process to a subscriber in another (p50, p99), over
// streams of a few events with pauses of 0 to 300ms before the last one,
// new subscribers joining and one publish in five lost on a stalled link.
func TestLastEventLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for a while")
	}
	redisURL := testsvc.NeedRedis(t)
	link, linkURL := newProxy(t, redisURL)
	const rounds = 40
	var lat []time.Duration
	for i := range rounds {
		a, b, _, job := eventstest.Pair(t, 500*time.Millisecond, fanout(redisURL))
		a.SetFanout(fanout(linkURL)(t))
		ctx := context.Background()
		subs := []*events.Subscription{b.Subscribe(job, 0)}
		got := []<-chan time.Time{receiveFinal(subs[0])}
		for k := range 5 {
			a.Publish(ctx, events.New(job, "n", events.Log, events.LogData{Msg: "x"}))
			if k == 2 { // a subscriber joins mid-stream
				subs = append(subs, b.Subscribe(job, 0))
				got = append(got, receiveFinal(subs[1]))
			}
		}
		if i%5 == 4 {
			link.drop.Store(true)
			a.Publish(ctx, events.New(job, "n", events.Log, events.LogData{Msg: "lost on the link"}))
			link.drop.Store(false)
		}
		time.Sleep(time.Duration(i%4) * 100 * time.Millisecond)
		published := time.Now()
		if err := a.Publish(ctx, final(job)); err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			lat = append(lat, within(t, g, published, promptly))
		}
		for _, s := range subs {
			s.Close()
		}
	}
	slices.Sort(lat)
	t.Logf("last event, publish to receive in another process, %d subscribers: p50 %s, p99 %s, max %s",
		len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}
