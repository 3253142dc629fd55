package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/api"
	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/store"
)

// BenchmarkGetJobAuth measures GET /api/v1/jobs/{id} with auth off and with
// auth on, by an API key (looked up by its hash in the store on every
// request) and by an HS256 JWT, on three servers over the same store. The
// three kinds of request take turns in short blocks, so all three see the
// same machine load and the differences are what auth adds. It reports, per
// kind, p50 and p99 in milliseconds (p50_ms_off, p99_ms_key, ...), the p99
// auth adds (added_p99_ms_key, _jwt) and CPU per request, for one client
// (the latency of a lone request) and for 50 concurrent clients.
func BenchmarkGetJobAuth(b *testing.B) {
	e := setup(b)
	id := e.submitB(b, "name: p\nnodes: [{id: data, agent: dataset, params: {source: "+alpaca+"}}, {id: m, agent: fakemodel}]\nedges: [{from: data, to: m}]\n", true)
	key, err := auth.CreateKey(context.Background(), e.p.Store, auth.NewKeyParams{Team: store.DefaultTeam, Role: store.RoleMember})
	if err != nil {
		b.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "bench", "team": store.DefaultTeam, "role": "member", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(secret)
	if err != nil {
		b.Fatal(err)
	}
	modes := []struct {
		name, bearer string
		required     bool
		url          string
	}{
		{name: "off"},
		{name: "key", bearer: key.Key, required: true},
		{name: "jwt", bearer: tok, required: true},
	}
	for i := range modes {
		mw := auth.New(auth.Config{Required: modes[i].required, Store: e.p.Store, JWT: auth.JWTConfig{Secret: secret}})
		srv := &api.Server{Store: e.p.Store, Blobs: e.p.Blobs, Bus: e.p.Bus, Orch: e.p.Orch, Agents: &agent.Registry{},
			Heartbeat: time.Second, Auth: mw}
		ts := httptest.NewServer(srv.Handler())
		defer ts.Close()
		modes[i].url = ts.URL + "/api/v1/jobs/" + id
	}
	get := func(c *http.Client, url, bearer string) error {
		req, _ := http.NewRequest("GET", url, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET job: %d", resp.StatusCode)
		}
		return nil
	}
	for _, clients := range []int{1, 50} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			// Blocks of requests of one kind, the kinds taking turns in
			// rotating order, so drifting machine load reaches all three.
			perBlock, blocks := 50, 6
			if clients > 1 {
				perBlock, blocks = 20, 1
			}
			tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
			c := &http.Client{Transport: tr}
			defer tr.CloseIdleConnections()
			lat := make([][]time.Duration, len(modes))
			cpu := make([]time.Duration, len(modes))
			var mu sync.Mutex
			turn := 0
			for b.Loop() {
				for range blocks {
					for k := range modes {
						j := (turn + k) % len(modes)
						m := modes[j]
						cpu0 := cpuTime()
						var wg sync.WaitGroup
						for range clients {
							wg.Go(func() {
								local := make([]time.Duration, 0, perBlock)
								for range perBlock {
									t0 := time.Now()
									if err := get(c, m.url, m.bearer); err != nil {
										b.Errorf("auth %s: %v", m.name, err)
										return
									}
									local = append(local, time.Since(t0))
								}
								mu.Lock()
								lat[j] = append(lat[j], local...)
								mu.Unlock()
							})
						}
						wg.Wait()
						cpu[j] += cpuTime() - cpu0
					}
					turn++
				}
			}
			pct := func(d []time.Duration, p float64) float64 {
				if len(d) == 0 {
					return 0
				}
				return float64(d[int(p*float64(len(d)-1))].Nanoseconds()) / 1e6
			}
			for j, m := range modes {
				slices.Sort(lat[j])
				b.ReportMetric(pct(lat[j], 0.50), "p50_ms_"+m.name)
				b.ReportMetric(pct(lat[j], 0.99), "p99_ms_"+m.name)
				// CPU per request, client and server together (one process):
				// unlike the latencies it barely depends on the machine's load.
				b.ReportMetric(float64(cpu[j].Microseconds())/float64(max(len(lat[j]), 1)), "cpu_us/req_"+m.name)
				if j > 0 {
					b.ReportMetric(pct(lat[j], 0.99)-pct(lat[0], 0.99), "added_p99_ms_"+m.name)
				}
			}
		})
	}
}
