package api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/api"
	"github.com/whetstone/whetstone/internal/logging"
	"github.com/whetstone/whetstone/internal/metrics"
)

// BenchmarkGetJobObservability measures GET /jobs/{id} under 50 clients
// twice in one run, on the same store: with nothing observed, and with the
// Prometheus middleware and a JSON access-log line per request written to a
// file, so the overhead is the difference of the two.
func BenchmarkGetJobObservability(b *testing.B) {
	e := setup(b)
	id := e.submitB(b, "name: p\nnodes: [{id: data, agent: dataset, params: {source: "+alpaca+"}}, {id: m, agent: fakemodel}]\nedges: [{from: data, to: m}]\n", true)
	logFile, err := os.Create(b.TempDir() + "/access.log")
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	for _, mode := range []string{"plain", "metrics+accesslog"} {
		b.Run(mode, func(b *testing.B) {
			srv := &api.Server{Store: e.p.Store, Blobs: e.p.Blobs, Bus: e.p.Bus, Orch: e.p.Orch, Agents: &agent.Registry{},
				Heartbeat: time.Second}
			if mode != "plain" {
				log, _ := logging.New(logFile, "info", "json")
				srv.Metrics, srv.AccessLog, srv.Logger = metrics.New(), true, log
			}
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			url := ts.URL + "/api/v1/jobs/" + id
			latencies(b, 50, 40, func(c *http.Client) error {
				resp, err := c.Get(url)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("GET job: %d", resp.StatusCode)
				}
				return nil
			})
		})
	}
}
