package platform_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/pipeline"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/store"
	"github.com/whetstone/whetstone/internal/store/pgstore/pgtest"
)

// noop is the trivial node: no inputs, no outputs, no work.
type noop struct{}

func (noop) Spec() agent.Spec { return agent.Spec{Name: "noop", Description: "does nothing"} }
func (noop) Run(context.Context, *agent.Env) ([]agent.Artifact, error) {
	return nil, nil
}

// BenchmarkNodesPerSecond runs a pipeline of 40 independent trivial nodes
// (cache off) on 1, 2 and 4 workers (platforms in this process with their
// own data folders, concurrency 2 each, poll interval 50 ms) sharing one
// database, SQLite or PostgreSQL, and a blob folder; a fifth platform
// without a worker submits. It reports nodes per second from submission
// to the job's end.
func BenchmarkNodesPerSecond(b *testing.B) {
	const nodes = 40
	var spec strings.Builder
	spec.WriteString(`{"name": "trivial", "nodes": [`)
	for i := range nodes {
		if i > 0 {
			spec.WriteString(",")
		}
		fmt.Fprintf(&spec, `{"id": "n%d", "agent": "noop", "cache": false}`, i)
	}
	spec.WriteString(`]}`)
	sp, err := pipeline.Parse([]byte(spec.String()))
	if err != nil {
		b.Fatal(err)
	}
	for _, dbName := range []string{"sqlite", "postgres"} {
		for _, workers := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("%s/workers=%d", dbName, workers), func(b *testing.B) {
				shared := b.TempDir()
				db := filepath.Join(shared, "whet.db")
				if dbName == "postgres" {
					db = pgtest.NewSchema(b)
				}
				open := func(work bool) *platform.Platform {
					cfg := config.Default()
					cfg.DataDir, cfg.Database, cfg.BlobDir = b.TempDir(), db, filepath.Join(shared, "blobs")
					cfg.PollInterval, cfg.LeaseTimeout = 50*time.Millisecond, 10*time.Second
					var reg agent.Registry
					reg.Register(noop{})
					p, err := platform.Open(context.Background(), cfg, &reg, platform.Options{Work: work})
					if err != nil {
						b.Fatal(err)
					}
					if err := p.Start(context.Background()); err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() {
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						defer cancel()
						p.Stop(ctx)
					})
					return p
				}
				api := open(false)
				for range workers {
					open(true)
				}
				ctx := context.Background()
				b.ResetTimer()
				for b.Loop() {
					j, err := api.Orch.Submit(ctx, sp, "")
					if err != nil {
						b.Fatal(err)
					}
					for {
						got, err := api.Store.GetJob(ctx, j.ID)
						if err != nil {
							b.Fatal(err)
						}
						if got.Status.Terminal() {
							if got.Status != store.Succeeded {
								b.Fatalf("job %s: %s %s", j.ID, got.Status, got.Error)
							}
							break
						}
						time.Sleep(5 * time.Millisecond)
					}
				}
				b.ReportMetric(float64(nodes*b.N)/b.Elapsed().Seconds(), "nodes/s")
			})
		}
	}
}
