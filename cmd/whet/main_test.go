package main

import (
	"context"
	"os"
	"testing"
)

// TestMain lets the test binary be its own agent process: a `whet serve`
// started in-process by a test runs each node in `os.Executable()
// agent-exec`, which here is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent-exec" {
		err := run(context.Background(), os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
		os.Exit(exitCode(err, os.Stderr))
	}
	os.Exit(m.Run())
}
