// Command whet is Whetstone: the API server, worker, pipeline runner and the
// engine's command-line tools, in one binary. Run `whet help` for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
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
	var ee *exitError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ee):
		fmt.Fprintln(os.Stderr, "whet:", err)
		os.Exit(ee.code)
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "whet:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "whet:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, io stdio) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(io.out, "Whetstone: fine-tune LLMs with pipelines of agents.\n\nUsage: whet COMMAND [flags]\n\nCommands:")
		for _, c := range sortedCommands() {
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
