package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/whetstone/whetstone/internal/pipeline"
)

func init() {
	register(&command{name: "demo", summary: "run `whet serve` and submit a demo pipeline on the bundled assets", run: demo})
}

// demo starts the server like `whet serve`, waits for it to be healthy,
// submits a pipeline through the REST API (as any client would), reports
// where to watch it, and keeps serving until interrupted.
func demo(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.err)
	addr := fs.String("addr", "127.0.0.1:8080", "API and UI listen address")
	dataDir := fs.String("data-dir", "./whet-data", "data folder: SQLite database, blobs, scratch")
	spec := fs.String("pipeline", "../shared/examples/stories-lora.yaml", "pipeline to submit (YAML or JSON)")
	exit := fs.Bool("exit", false, "stop the server once the demo job has finished (exit code 0 only on success)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raw, err := os.ReadFile(*spec)
	if err != nil {
		return fmt.Errorf("demo pipeline: %w (run from the repository root, beside ../shared)", err)
	}
	parsed, err := pipeline.Parse(raw)
	if err != nil {
		return fmt.Errorf("demo pipeline %s: %w", *spec, err)
	}
	body, _ := json.Marshal(parsed)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	// The demo's pipeline reads the bundled assets beside the repository:
	// the server may read the work folder and ../shared, nothing else.
	serveArgs := []string{"--addr", *addr, "--data-dir", *dataDir, "--allow-path", "."}
	if st, err := os.Stat("../shared"); err == nil && st.IsDir() {
		serveArgs = append(serveArgs, "--allow-path", "../shared")
	}
	go func() { served <- serve(ctx, serveArgs, io) }()

	host := *addr
	if h, p, err := net.SplitHostPort(host); err == nil && (h == "" || h == "0.0.0.0" || h == "::") {
		host = net.JoinHostPort("127.0.0.1", p)
	}
	base := "http://" + host
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(base + "/api/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-served:
			return fmt.Errorf("server stopped before the demo started: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server at %s not healthy after 60s", base)
		}
	}
	resp, err := client.Post(base+"/api/v1/jobs", "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("submit demo pipeline: %w", err)
	}
	var sub struct {
		JobID  string `json:"job_id"`
		Status string `json:"status"`
		Detail string `json:"detail"`
	}
	json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("submit demo pipeline: %s: %s", resp.Status, sub.Detail)
	}
	fmt.Fprintf(io.out, "\nWhetstone is running at %s\n  demo pipeline %q submitted as job %s\n  watch it:  %s/runs/%s\n  API docs:  %s/docs\n  logs:      curl -N %s/api/v1/logs/stream/%s\n\n",
		base, parsed.Name, sub.JobID, base, sub.JobID, base, base, sub.JobID)

	// Report the job's end, then keep serving (or stop with --exit).
	status := ""
	for status == "" {
		select {
		case err := <-served:
			return err
		case <-time.After(time.Second):
		}
		r, err := client.Get(base + "/api/v1/jobs/" + sub.JobID)
		if err != nil {
			continue
		}
		var job struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		json.NewDecoder(r.Body).Decode(&job)
		r.Body.Close()
		switch job.Status {
		case "succeeded", "failed", "cancelled":
			status = job.Status
			fmt.Fprintf(io.out, "demo job %s %s %s\n", sub.JobID, job.Status, strings.TrimSpace(job.Error))
		}
	}
	if *exit {
		cancel()
		<-served
		if status != "succeeded" {
			return fmt.Errorf("demo job %s %s", sub.JobID, status)
		}
		return nil
	}
	fmt.Fprintf(io.out, "still serving at %s (Ctrl-C to stop)\n", base)
	return <-served
}
