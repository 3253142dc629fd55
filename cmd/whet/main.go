// Command whet is Whetstone: the API server, worker, pipeline runner and the
// engine's command-line tools, in one binary. Run `whet help` for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// errUsage marks a usage error (exit code 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr})
	stop()
	if code := exitCode(err, os.Stderr); code != 0 {
		os.Exit(code)
	}
}

// exitCode reports err on stderr and returns the process exit code: 0 for
// nil or -h, 2 for usage errors, an *exitError's own code, else 1.
func exitCode(err error, stderr io.Writer) int {
	var ee *exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		fmt.Fprintln(stderr, "whet:", err)
		return ee.code
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "whet:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "whet:", err)
		return 1
	}
}

func run(ctx context.Context, args []string, io stdio) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(io.out, "Whetstone: fine-tune LLMs with pipelines of agents.\n\nUsage: whet COMMAND [flags]\n\nCommands:")
		for _, c := range sortedCommands() {
			if c.hidden {
				continue
			}
			fmt.Fprintf(io.out, "  %-14s %s\n", c.name, c.summary)
		}
		fmt.Fprintln(io.out, "\nRun `whet COMMAND -h` for a command's flags.")
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		return fmt.Errorf("%w: unknown command %q (see `whet help`)", errUsage, args[0])
	}
	return c.run(ctx, args[1:], io)
}
