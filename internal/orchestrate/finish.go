package orchestrate

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/queue"
	"github.com/whetstone/whetstone/internal/store"
)

// succeed records a node's outputs and, in the same transaction, queues
// the successors whose predecessors have all succeeded, registers model
// outputs and ends the job when every node succeeded.
func (o *Orchestrator) succeed(ctx context.Context, job *store.Job, node *store.Node, owner string, outs []agent.Artifact, key string, cached bool, log *slog.Logger) error {
	now := time.Now().UTC()
	var lost bool
	err := o.st.InTx(ctx, func(tx store.Tx) error {
		ok, err := tx.FinishNode(ctx, &store.FinishNodeParams{JobID: job.ID, NodeID: node.ID, Owner: owner, Status: store.Succeeded,
			Outputs: outs, CacheKey: key, Cached: cached, At: now})
		if err != nil {
			return err
		}
		if !ok {
			lost = true
			return nil
		}
		if !cached && node.Cache {
			if err := tx.PutCache(ctx, job.Team, key, outs); err != nil {
				return err
			}
		}
		var read []store.DatasetVersion
		for _, a := range outs {
			if l := lineageOf(a); l != nil {
				read = store.MergeDatasets(read, l.Datasets)
			}
		}
		if len(read) > 0 {
			if err := tx.AddJobDatasets(ctx, job.ID, read); err != nil {
				return err
			}
		}
		for _, a := range outs {
			if a.Type != agent.Model || cached {
				continue // cached outputs were registered by the run that made them
			}
			size, files := metaSize(a.Meta), metaFiles(a.Meta)
			m := &store.Model{ID: store.NewID("mdl"), Name: fmt.Sprintf("%s/%s/%s", job.Name, node.ID, a.Name), Team: job.Team, JobID: job.ID, NodeID: node.ID,
				Output: a.Name, URI: a.URI, Size: size, Files: files, Meta: a.Meta, CreatedAt: now, Lineage: lineageOf(a)}
			if err := tx.CreateModel(ctx, m); err != nil {
				return err
			}
		}
		if _, err := tx.AppendActiveEvent(ctx, events.New(job.ID, node.ID, events.Node, events.NodeData{Status: store.Succeeded, Attempt: node.Attempts, Cached: cached, Outputs: outs})); err != nil {
			return err
		}
		cur, err := tx.GetJob(ctx, job.ID)
		if err != nil {
			return err
		}
		if cur.Status.Terminal() {
			return nil
		}
		status := map[string]store.Status{}
		preds := map[string][]string{}
		all := true
		for _, n := range cur.Nodes {
			status[n.ID] = n.Status
			preds[n.ID] = n.Preds
			all = all && n.Status == store.Succeeded
		}
		if all {
			if _, err := tx.SetJobStatus(ctx, job.ID, store.Succeeded, "", now); err != nil {
				return err
			}
			return tx.AppendEvent(ctx, events.New(job.ID, "", events.Status, events.StatusData{Status: store.Succeeded}))
		}
		var tasks []queue.Task
		for _, n := range cur.Nodes {
			if n.Status != store.Pending || n.Queued {
				continue
			}
			ready := len(n.Preds) > 0
			for _, p := range n.Preds {
				ready = ready && status[p] == store.Succeeded
			}
			if !ready {
				continue
			}
			if ok, err := tx.MarkQueued(ctx, job.ID, n.ID); err != nil {
				return err
			} else if ok {
				tasks = append(tasks, queue.Task{JobID: job.ID, NodeID: n.ID})
			}
		}
		return o.q.EnqueueTx(ctx, tx, tasks...)
	})
	if err != nil {
		return err
	}
	o.bus.Notify(job.ID)
	if lost {
		log.WarnContext(ctx, "node finished after losing its lease; outputs dropped")
	} else {
		log.InfoContext(ctx, "node succeeded", slog.Bool("cached", cached), slog.Int("outputs", len(outs)))
	}
	return nil
}

// fail records a node's failure and fails the job; pending nodes are
// cancelled and running ones stop through their watchers.
func (o *Orchestrator) fail(ctx context.Context, job *store.Job, node *store.Node, owner string, cause error) error {
	msg := cause.Error()
	err := o.st.InTx(ctx, func(tx store.Tx) error {
		_, err := o.failTx(ctx, tx, job.ID, node.ID, owner, node.Attempts, msg)
		return err
	})
	if err != nil {
		return err
	}
	o.bus.Notify(job.ID)
	o.cancelRunning(job.ID, node.ID)
	o.log.WarnContext(ctx, "node failed", slog.String("job_id", job.ID), slog.String("node", node.ID), slog.Int("attempt", node.Attempts), slog.String("error", msg))
	return nil
}

// failTx fails a node (owner "" for any holder) and its job in tx: pending
// nodes are cancelled. False when the node was not running or pending.
func (o *Orchestrator) failTx(ctx context.Context, tx store.Tx, jobID, nodeID, owner string, attempt int, msg string) (bool, error) {
	now := time.Now().UTC()
	ok, err := tx.FinishNode(ctx, &store.FinishNodeParams{JobID: jobID, NodeID: nodeID, Owner: owner, Status: store.Failed, Error: msg, At: now})
	if err != nil || !ok {
		return false, err
	}
	if err := tx.AppendEvent(ctx, events.New(jobID, nodeID, events.Node, events.NodeData{Status: store.Failed, Attempt: attempt, Error: msg})); err != nil {
		return false, err
	}
	jobErr := fmt.Sprintf("node %s: %s", nodeID, msg)
	ended, err := tx.SetJobStatus(ctx, jobID, store.Failed, jobErr, now)
	if err != nil || !ended {
		return true, err
	}
	if err := cancelNodes(ctx, tx, jobID, nodeID, fmt.Sprintf("cancelled: node %s failed", nodeID), now); err != nil {
		return true, err
	}
	return true, tx.AppendEvent(ctx, events.New(jobID, "", events.Status, events.StatusData{Status: store.Failed, Error: jobErr}))
}

// cancelRunning stops this process's running agents of job (but node).
func (o *Orchestrator) cancelRunning(jobID, except string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for ref, cancel := range o.running {
		if ref.JobID == jobID && ref.NodeID != except {
			cancel(errJobEnded)
		}
	}
}

func metaSize(m map[string]any) int64 {
	switch v := m["size"].(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	case int:
		return int64(v)
	}
	return 0
}

func metaFiles(m map[string]any) []string {
	switch v := m["files"].(type) {
	case []string:
		return v
	case []map[string]any:
		out := make([]string, 0, len(v))
		for _, f := range v {
			if s, ok := f["path"].(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			switch x := x.(type) {
			case string:
				out = append(out, x)
			case map[string]any:
				if s, ok := x["path"].(string); ok {
					out = append(out, s)
				}
			}
		}
		return out
	}
	return nil
}

// cancelNodes ends a job's unfinished nodes (but except): a node event with
// status cancelled for each pending or running one, so the history (and a
// page drawn from it) shows every node final, then pending nodes move to
// cancelled in the store; running ones are recorded as cancelled by their
// worker when their agent stops.
func cancelNodes(ctx context.Context, tx store.Tx, jobID, except, msg string, at time.Time) error {
	j, err := tx.GetJob(ctx, jobID)
	if err != nil {
		return err
	}
	for _, n := range j.Nodes {
		if n.ID == except || (n.Status != store.Pending && n.Status != store.Running) {
			continue
		}
		if err := tx.AppendEvent(ctx, events.New(jobID, n.ID, events.Node, events.NodeData{Status: store.Cancelled, Attempt: n.Attempts, Error: msg})); err != nil {
			return err
		}
	}
	return tx.CancelNodes(ctx, jobID, at)
}
