package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"syscall"

	"github.com/whetstone/whetstone/internal/agent"
	"github.com/whetstone/whetstone/internal/agentproc"
	"github.com/whetstone/whetstone/internal/config"
)

func init() {
	register(&command{name: "agent-exec", hidden: true, run: agentExec,
		summary: "run one node for a worker, in a process of its own (started by whet serve and whet worker)"})
}

// agentExec is the child side of agent isolation: it serves one run on its
// stdin and file descriptor 3 (see internal/agentproc).
func agentExec(ctx context.Context, args []string, io stdio) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: agent-exec takes no arguments; whet serve and whet worker start it", errUsage)
	}
	out := os.NewFile(3, "agentproc")
	if out == nil {
		return fmt.Errorf("agent-exec: no file descriptor 3: whet serve and whet worker start this command")
	}
	if _, err := out.Stat(); err != nil {
		return fmt.Errorf("agent-exec: file descriptor 3: %w (whet serve and whet worker start this command)", err)
	}
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	return agentproc.Serve(ctx, reg, io.in, out)
}

// isolateAgents returns reg with every agent wrapped to run in a child
// process (`whet agent-exec`), bounded by cfg.AgentMemoryLimit.
func isolateAgents(reg *agent.Registry, cfg config.Config, log *slog.Logger) (*agent.Registry, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("isolate agents: find this program: %w", err)
	}
	limit := cfg.AgentMemoryLimit
	if limit == 0 {
		var si syscall.Sysinfo_t
		if err := syscall.Sysinfo(&si); err == nil {
			limit = int64(si.Totalram) * int64(si.Unit) / 4 * 3
		}
	}
	pc := agentproc.Config{Path: exe, Args: []string{"agent-exec"}, MemoryLimit: limit, AllowURL: cfg.AllowURL, Logger: log}
	var out agent.Registry
	for _, s := range reg.Specs() {
		a, _ := reg.Lookup(s.Name)
		if err := out.Register(agentproc.Wrap(a, pc)); err != nil {
			return nil, err
		}
	}
	log.Info("agents run in child processes", slog.Int64("memory_limit_mb", limit>>20))
	return &out, nil
}
