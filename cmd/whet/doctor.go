package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

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
	checks := []doctor.Check{doctor.BLAS(), doctor.OneDNN(), doctor.GPUs(nil), doctor.Disk(cfg.DataDir)}
	reg, rerr := newRegistry()
	var p *platform.Platform
	if rerr == nil {
		p, err = platform.Open(ctx, cfg, reg, platform.Options{})
	}
	switch {
	case rerr != nil:
		checks = append(checks, failing("backends", rerr.Error(), ""))
	case err != nil:
		checks = append(checks, failing("backends", "cannot open the configured backends: "+err.Error(), backendFixes["database"]))
	default:
		defer p.Stop(context.WithoutCancel(ctx))
		checks = append(checks, doctor.Backends(p.Health, backendFixes))
	}
	checks = append(checks, doctor.Listen(cfg.Addr), doctor.Clock(nil))
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
