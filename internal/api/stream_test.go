package api_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/api"
	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/store"
)

// A client that stops reading its stream (its socket buffers full) is
// dropped once a write has blocked for StreamWriteTimeout: its handler and
// subscription do not stay for as long as the connection does. A client
// that keeps reading is not bound by it: each write gets it afresh.
func TestSSEDropsAClientThatStopsReading(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	srv := &api.Server{Store: e.p.Store, Blobs: e.p.Blobs, Bus: e.p.Bus, Orch: e.p.Orch, Agents: defaultRegistry(),
		Heartbeat: 50 * time.Millisecond, StreamWriteTimeout: 300 * time.Millisecond}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	id := e.submit(t, "name: p\nnodes: [{id: data, agent: dataset, params: {source: x.jsonl}}]\n")
	path := "/api/v1/logs/stream/" + id

	// The stuck client: a raw connection with a small receive buffer
	// that reads the response head and then nothing.
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	head, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(head, "200") {
		t.Fatalf("stream response: %q %v", head, err)
	}
	// A reading client, streaming the same events all along.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	read := make(chan int, 1)
	go func() {
		n := 0
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				n++
			}
		}
		read <- n
	}()
	waitSubs := func(want int, within time.Duration) bool {
		for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if e.p.Bus.Subscribers() == want {
				return true
			}
		}
		return false
	}
	if !waitSubs(2, 5*time.Second) {
		t.Fatalf("%d subscribers, want 2", e.p.Bus.Subscribers())
	}
	// 16 MiB of events: more than the socket buffers of both ends hold.
	const batches, perBatch = 16, 256
	msg := strings.Repeat("x", 4000)
	for b := range batches {
		evs := make([]*store.Event, perBatch)
		for i := range evs {
			evs[i] = events.New(id, "data", events.Log, events.LogData{Level: "INFO", Msg: fmt.Sprint(b*perBatch+i, msg)})
		}
		if err := e.p.Bus.PublishActive(context.Background(), evs...); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the reading client keeps up
	}
	if !waitSubs(1, 10*time.Second) {
		t.Fatalf("%d subscribers 10 s after the stuck client's writes blocked, want 1 (the reading client)", e.p.Bus.Subscribers())
	}
	// The reading client got everything, across many write timeouts' time.
	if err := e.p.Bus.Publish(context.Background(), events.New(id, "", events.Status, events.StatusData{Status: store.Cancelled})); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-read:
		if n < batches*perBatch+1 {
			t.Errorf("the reading client got %d events, want at least %d", n, batches*perBatch+1)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the reading client's stream did not end after the final event")
	}
}
