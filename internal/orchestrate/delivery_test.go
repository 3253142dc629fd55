package orchestrate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/store"
)

func mustNode(t *testing.T, b *bundle, jobID, id string) *store.Node {
	t.Helper()
	n, err := b.p.Store.GetNode(context.Background(), jobID, id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A clean shutdown hands the running node back at once, without spending an
// attempt; another worker on the same database takes it long before the
// lease would have ended.
func TestCleanShutdownHandsBackAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	long := func(c *config.Config) { c.DataDir = dir; c.LeaseTimeout = 30 * time.Second }
	a := setup(t, long)
	j := a.submit(t, "name: handback\nnodes: [{id: n, agent: step, cache: false, max_attempts: 1, params: {sleep_ms: 1500}}]")
	waitFor(t, "the node to run on a", 10*time.Second, func() bool { return mustNode(t, a, j.ID, "n").Status == store.Running })
	b := setup(t, long)
	stopped := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(stopped); d > 3*time.Second {
		t.Errorf("Stop took %s", d)
	}
	got := b.wait(t, j.ID, 20*time.Second)
	if got.Status != store.Succeeded || node(got, "n").Attempts != 1 {
		t.Fatalf("job %s %q, attempts %d (max_attempts 1: a handed-back run must not count)", got.Status, got.Error, node(got, "n").Attempts)
	}
	if len(b.rec.get("n")) != 1 || len(a.rec.get("n")) != 1 {
		t.Errorf("runs: a %d, b %d", len(a.rec.get("n")), len(b.rec.get("n")))
	}
	if d := b.rec.get("n")[0].start.Sub(stopped); d > 10*time.Second {
		t.Errorf("b started the node %s after a stopped; the lease is 30s", d)
	}
	evs, _ := b.p.Store.ListEvents(context.Background(), j.ID, 0, 0)
	var handed bool
	for _, e := range evs {
		handed = handed || strings.Contains(string(e.Data), "handed back: worker stopping")
	}
	if !handed {
		t.Error("no handed-back node event")
	}
}

// A node whose worker dies on every attempt ends failed with that reason,
// instead of being delivered forever.
func TestWorkerDeathsUseUpAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.LeaseTimeout = 400 * time.Millisecond })
	ctx := context.Background()
	// No worker here has the label, so only the "dying" claims below run it.
	j := b.submit(t, "name: deaths\nnodes: [{id: n, agent: step, cache: false, max_attempts: 3, requires: {labels: [nowhere]}}]")
	for i := range 3 {
		now := time.Now()
		var ok bool
		waitFor(t, "the node to be pending again", 10*time.Second, func() bool {
			b.p.Store.InTx(ctx, func(tx store.Tx) error {
				_, ok, _ = tx.ClaimNode(ctx, &store.ClaimParams{JobID: j.ID, NodeID: "n", Owner: "doomed/1/x", Now: now, LeaseUntil: now.Add(100 * time.Millisecond)})
				return nil
			})
			now = time.Now()
			return ok
		})
		if i < 2 {
			waitFor(t, "the reaper", 10*time.Second, func() bool { return mustNode(t, b, j.ID, "n").Status == store.Pending })
		}
	}
	got := b.wait(t, j.ID, 10*time.Second)
	n := node(got, "n")
	if got.Status != store.Failed || n.Error != "worker died 3 times running this node" || n.Attempts != 3 {
		t.Fatalf("job %s, node %s %q after %d attempts", got.Status, n.Status, n.Error, n.Attempts)
	}
	if len(b.rec.get("n")) != 0 {
		t.Error("the node ran on a worker without the label")
	}
}

// A restarted worker (same WorkerID) takes the node its previous life held
// back at once, not after the lease.
func TestRestartedWorkerReclaimsItsLease(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.WorkerID = "box-1"; c.LeaseTimeout = time.Hour })
	ctx := context.Background()
	j := &store.Job{ID: store.NewID("job"), Name: "ghost", Status: store.Running, Spec: []byte(`{}`), CreatedAt: time.Now()}
	j.Nodes = []*store.Node{{ID: "n", Agent: "step", Params: map[string]any{"sleep_ms": 0}, MaxAttempts: 3, Cache: false}}
	now := time.Now()
	err := b.p.Store.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateJob(ctx, j); err != nil {
			return err
		}
		for _, owner := range []string{"box-1/999-dead/a"} {
			if _, _, err := tx.ClaimNode(ctx, &store.ClaimParams{JobID: j.ID, NodeID: "n", Owner: owner, Now: now, LeaseUntil: now.Add(time.Hour)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.p.Orch.ReclaimOwn(ctx); err != nil || n != 1 {
		t.Fatalf("ReclaimOwn = %d, %v", n, err)
	}
	got := b.wait(t, j.ID, 10*time.Second)
	if n := node(got, "n"); got.Status != store.Succeeded || n.Attempts != 2 || n.Deaths != 1 {
		t.Fatalf("job %s, attempts %d deaths %d", got.Status, n.Attempts, n.Deaths)
	}
	// Another worker's id is not ours: its lease stays.
	other := &store.Job{ID: store.NewID("job"), Name: "other", Status: store.Running, Spec: []byte(`{}`), CreatedAt: time.Now()}
	other.Nodes = []*store.Node{{ID: "n", Agent: "step", MaxAttempts: 3}}
	b.p.Store.InTx(ctx, func(tx store.Tx) error {
		tx.CreateJob(ctx, other)
		_, _, err := tx.ClaimNode(ctx, &store.ClaimParams{JobID: other.ID, NodeID: "n", Owner: "box-10/1-x/a", Now: now, LeaseUntil: now.Add(time.Hour)})
		return err
	})
	if n, _ := b.p.Orch.ReclaimOwn(ctx); n != 0 {
		t.Errorf("ReclaimOwn took %d nodes of worker box-10", n)
	}
}

// A node that requires more than a worker has waits for one that fits.
func TestNodeWaitsForAWorkerThatFits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	small := setup(t, func(c *config.Config) { c.DataDir = dir; c.Labels = "cpu" })
	j := small.submit(t, "name: fit\nnodes: [{id: n, agent: step, cache: false, requires: {gpus: 1, labels: [trainer]}}]")
	time.Sleep(500 * time.Millisecond)
	if n := mustNode(t, small, j.ID, "n"); n.Status != store.Pending || n.Attempts != 0 {
		t.Fatalf("node on a worker without a GPU: %s, %d attempts", n.Status, n.Attempts)
	}
	big := setup(t, func(c *config.Config) { c.DataDir = dir; c.Labels = "trainer, eu"; c.GPUs = 2 })
	got := big.wait(t, j.ID, 10*time.Second)
	if got.Status != store.Succeeded || len(big.rec.get("n")) != 1 || len(small.rec.get("n")) != 0 {
		t.Fatalf("job %s; runs big %d small %d", got.Status, len(big.rec.get("n")), len(small.rec.get("n")))
	}
}
