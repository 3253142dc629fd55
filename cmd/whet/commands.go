package main

import (
	"context"
	"fmt"
	"io"
	"sort"
)

// command is one `whet` subcommand. Each lives in its own file and registers
// itself in init, so areas of the project add commands without touching main.
type command struct {
	name    string // "serve", "tokenize", "bench train" is "bench"
	summary string // one line for `whet help`
	// hidden commands are for whet's own use and not listed by `whet help`.
	hidden bool
	// run executes the command with the arguments after its name.
	run func(ctx context.Context, args []string, stdio stdio) error
}

// stdio is a command's standard streams.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

var commands = map[string]*command{}

func register(c *command) {
	if _, ok := commands[c.name]; ok {
		panic(fmt.Sprintf("command %q registered twice", c.name))
	}
	commands[c.name] = c
}

func sortedCommands() []*command {
	out := make([]*command, 0, len(commands))
	for _, c := range commands {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
