package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/whetstone/whetstone/internal/blob/s3blob"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/store/pgstore"

	"github.com/whetstone/whetstone/internal/doctor"
	"github.com/whetstone/whetstone/internal/platform"
)

func init() {
	register(&command{name: "doctor", summary: "check this machine and configuration, and say how to fix what is wrong", run: doctorCmd})
}

// backendFixes says what to do when a backend's health check fails.
var backendFixes = map[string]string{
	"database":   "check --database (WHET_DATABASE): the file's folder must be writable, a postgres:// URL must reach a running server with those credentials",
	"blob_store": "check --blob-dir / --blob-url: the folder must be writable, an S3 endpoint reachable with a bucket that exists and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY that may use it",
	"queue":      "the queue lives in the database: fix the database first",
	"events":     "check --events (WHET_EVENTS): a redis:// URL must reach a running Redis",
}

func doctorCmd(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the findings as JSON")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: whet doctor [--json] [flags]\n\nChecks the kernels (OpenBLAS, oneDNN), GPUs, free disk, the database, blob store and\nother backends of this configuration, the listen address, clock skew and the auth mode,\nand prints what it found with a fix for each problem. Exit 1 when a check fails.\n\nFlags:")
		fs.PrintDefaults()
	}
	cfg, err := parseFlags(fs, args, io.err)
	if err != nil {
		return err
	}
	checks := []doctor.Check{doctor.BLAS(), doctor.OneDNN(), doctor.GPUs(gpuInventory), doctor.Disk(cfg.DataDir)}
	reg, rerr := newRegistry()
	var p *platform.Platform
	if rerr == nil {
		p, err = platform.Open(ctx, cfg, reg, platform.Options{})
	}
	switch {
	case rerr != nil:
		checks = append(checks, failing("backends", rerr.Error(), ""))
	case err != nil:
		checks = append(checks, failing("backends", "cannot open the configured backends: "+err.Error(), openFix(err)))
	default:
		defer p.Stop(context.WithoutCancel(ctx))
		checks = append(checks, doctor.Backends(p.Health, backendFixes))
	}
	checks = append(checks, doctor.Listen(cfg.Addr), doctor.Clock(remoteClock(cfg)), authCheck(cfg))
	rs := doctor.Run(ctx, checks)
	if *asJSON {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"checks": rs, "ok": !doctor.Failed(rs)})
	} else {
		doctor.Print(io.out, rs)
	}
	if doctor.Failed(rs) {
		return &exitError{code: 1, err: fmt.Errorf("doctor: some checks failed")}
	}
	return nil
}

func failing(name, found, fix string) doctor.Check {
	return doctor.Check{Name: name, Run: func(context.Context) doctor.Result {
		return doctor.Result{Status: doctor.Fail, Found: found, Fix: fix}
	}}
}

// remoteClock returns the clock of the configured remote service to compare
// with (PostgreSQL's now(), else the S3 endpoint's Date header), or nil
// when everything is local.
func remoteClock(cfg config.Config) func(context.Context) (string, time.Time, error) {
	switch {
	case pgstore.IsURL(cfg.Database):
		return func(ctx context.Context) (string, time.Time, error) {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, cfg.Database)
			if err != nil {
				return "PostgreSQL", time.Time{}, err
			}
			defer conn.Close(ctx)
			var now time.Time
			start := time.Now()
			if err := conn.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
				return "PostgreSQL", time.Time{}, err
			}
			// The server read its clock about halfway through the round trip.
			return "PostgreSQL", now.Add(-time.Since(start) / 2), nil
		}
	case cfg.BlobURL != "":
		return func(ctx context.Context) (string, time.Time, error) {
			c, err := s3blob.ParseURL(cfg.BlobURL, os.Getenv)
			if err != nil {
				return "S3", time.Time{}, err
			}
			scheme := "http"
			if c.Secure {
				scheme = "https"
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodHead, scheme+"://"+c.Endpoint+"/", nil)
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
			if err != nil {
				return "S3 (" + c.Endpoint + ")", time.Time{}, err
			}
			resp.Body.Close()
			t, err := http.ParseTime(resp.Header.Get("Date"))
			if err != nil {
				return "S3 (" + c.Endpoint + ")", time.Time{}, fmt.Errorf("no Date header")
			}
			// HTTP dates have whole seconds: compare with the middle of that second.
			return "S3 (" + c.Endpoint + ")", t.Add(500 * time.Millisecond), nil
		}
	}
	return nil
}

// openFix picks the fix for an error opening the backends by what it names.
func openFix(err error) string {
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "blob") || strings.Contains(msg, "s3") || strings.Contains(msg, "bucket") || strings.Contains(msg, "aws_"):
		return backendFixes["blob_store"]
	case strings.Contains(msg, "redis") || strings.Contains(msg, "events"):
		return backendFixes["events"]
	}
	return backendFixes["database"]
}

// authCheck reports the auth mode the configuration resolves to on its
// listen address, and what that means.
func authCheck(cfg config.Config) doctor.Check {
	return doctor.Check{Name: "auth", Run: func(context.Context) doctor.Result {
		mode := cfg.Auth
		if mode == "" {
			mode = "auto"
		}
		on, err := cfg.AuthRequired(cfg.Addr)
		switch {
		case err != nil:
			return doctor.Result{Status: doctor.Fail, Found: err.Error(), Fix: "use --auth required and create keys with `whet keys create`, or listen on 127.0.0.1"}
		case on:
			return doctor.Result{Status: doctor.OK, Found: fmt.Sprintf("--auth %s on %s: required (API keys or JWT); server paths jobs may read: %s", mode, cfg.Addr, rootsText(cfg.SandboxRoots(true)))}
		case cfg.InsecureNoAuth:
			return doctor.Result{Status: doctor.Warn, Found: fmt.Sprintf("--auth off on %s with --insecure-no-auth: anyone who reaches it can run jobs", cfg.Addr),
				Fix: "use --auth required with API keys (`whet keys create --team T --role admin`)"}
		}
		return doctor.Result{Status: doctor.OK, Found: fmt.Sprintf("--auth %s on %s: off (this machine only); server paths jobs may read: %s", mode, cfg.Addr, rootsText(cfg.SandboxRoots(false)))}
	}}
}

func rootsText(roots []string) string {
	if len(roots) == 0 {
		return "none (uploads only; --allow-path DIR to add)"
	}
	return strings.Join(roots, ", ")
}
