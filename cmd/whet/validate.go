package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/whetstone/whetstone/internal/pipeline"
)

func init() {
	register(&command{name: "validate", summary: "check pipeline specs and print every error", run: validateCmd})
}

func validateCmd(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: whet validate PIPELINE.yaml...\n\nExits 0 when every spec is valid, 1 otherwise.")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: validate needs a pipeline file", errUsage)
	}
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	bad := 0
	for _, f := range fs.Args() {
		if _, err := loadSpec(f, reg); err != nil {
			bad++
			printSpecError(io, f, err)
			continue
		}
		fmt.Fprintf(io.out, "%s: ok\n", f)
	}
	if bad > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d specs invalid", bad, fs.NArg())}
	}
	return nil
}

func loadSpec(path string, reg pipeline.Lookup) (*pipeline.Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := pipeline.Parse(b)
	if err != nil {
		return nil, err
	}
	if _, err := pipeline.Validate(s, reg); err != nil {
		return nil, err
	}
	return s, nil
}

func printSpecError(io stdio, file string, err error) {
	var ve *pipeline.ValidationError
	if errors.As(err, &ve) {
		for _, fe := range ve.Errors {
			fmt.Fprintf(io.out, "%s: %s\n", file, fe.Error())
		}
		return
	}
	fmt.Fprintf(io.out, "%s: %v\n", file, err)
}
