package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/retention"
)

func init() {
	register(&command{name: "gc", summary: "remove old jobs, events, cache entries and orphan blobs by the --retain policy", run: gcCmd})
}

func gcCmd(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("gc", flag.ContinueOnError)
	dry := fs.Bool("dry-run", false, "show what would be removed, remove nothing")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: whet gc [--dry-run] --retain jobs=30d,events=30d,cache=14d,blobs=1d [flags]\n\nRemoves ended jobs (with their events, output blobs and event stream) older than jobs=,\nevents of ended jobs older than events=, output-cache entries older than cache=, and blobs\nnothing refers to older than blobs= (plus unfinished S3 uploads). Jobs that produced an\nexported model, datasets and every blob a dataset or model names are kept. Prints a JSON report.\n\nFlags:")
		fs.PrintDefaults()
	}
	cfg, err := parseFlags(fs, args, io.err)
	if err != nil {
		return err
	}
	pol, err := config.ParseRetain(cfg.Retain)
	if err != nil {
		return fmt.Errorf("%w: --retain: %v", errUsage, err)
	}
	if pol == (config.Retention{}) {
		return fmt.Errorf("%w: --retain names nothing to remove (e.g. --retain jobs=30d,events=30d,cache=14d,blobs=1d)", errUsage)
	}
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	p, err := platform.Open(ctx, cfg, reg, platform.Options{})
	if err != nil {
		return err
	}
	defer p.Stop(context.WithoutCancel(ctx))
	var streams retention.Streams
	if p.Fanout != nil {
		streams = p.Fanout
	}
	rep, err := retention.Run(ctx, p.Store, p.Blobs, streams, pol, time.Now(), *dry)
	if rep != nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(io.out, string(b))
	}
	return err
}
