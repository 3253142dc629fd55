package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/logging"
)

// webHandler, when set (by the web UI package's wiring), is served at / by
// `whet serve`.
var webHandler http.Handler

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// parseFlags parses args and loads the configuration (file, WHET_* env,
// flags). Flag errors are usage errors.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (config.Config, error) {
	fs.SetOutput(stderr)
	l := config.Bind(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config.Config{}, err
		}
		return config.Config{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg, err := l.Load(os.Getenv)
	if err != nil {
		return cfg, fmt.Errorf("%w: %v", errUsage, err)
	}
	return cfg, nil
}

// newLogger returns the structured logger for a configuration's level and
// format (validated by config, so it cannot fail here).
func newLogger(w io.Writer, level, format string) *slog.Logger {
	log, err := logging.New(w, level, format)
	if err != nil {
		log, _ = logging.New(w, "info", "text")
	}
	return log
}
