package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/whetstone/whetstone/internal/auth"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/store"
)

func init() {
	register(&command{name: "keys", summary: "create, list and revoke API keys in the server's database (no server needed)", run: keysCmd})
}

const keysUsage = `Usage:
  whet keys create --team NAME --role admin|member|viewer [--name LABEL] [--expires 720h]
  whet keys list [--team NAME]
  whet keys revoke ID

Works on the server's database directly (--data-dir / --database as for
whet serve). create prints {"id", "key", "team", "role", "expires_at"}: the
key is shown only this once; only its hash is stored. Clients send it as
Authorization: Bearer KEY.`

func keysCmd(ctx context.Context, args []string, io stdio) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(io.err, keysUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: keys: want create, list or revoke", errUsage)
		}
		return nil
	}
	sub, args := args[0], args[1:]
	if sub == "revoke" && len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		args = append(args[1:], args[0]) // the id first, flags after it
	}
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(io.err, keysUsage+"\n\nFlags:"); fs.PrintDefaults() }
	team := fs.String("team", "", "the key's team")
	role := fs.String("role", "", "admin, member or viewer")
	name := fs.String("name", "", "a label for the key")
	expires := fs.Duration("expires", 0, "lifetime, e.g. 720h (default: never expires)")
	cfg, err := parseFlags(fs, args, io.err)
	if err != nil {
		return err
	}
	st, err := platform.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	enc := json.NewEncoder(io.out)
	enc.SetIndent("", "  ")
	switch sub {
	case "create":
		c, err := auth.CreateKey(ctx, st, auth.NewKeyParams{Team: *team, Role: store.Role(*role), Name: *name, TTL: *expires})
		if errors.Is(err, auth.ErrInvalid) {
			return fmt.Errorf("%w: keys create: %v", errUsage, err)
		}
		if err != nil {
			return err
		}
		return enc.Encode(c)
	case "list":
		keys, _, err := st.ListKeys(ctx, *team, store.ListParams{Limit: 1000})
		if err != nil {
			return err
		}
		return enc.Encode(map[string]any{"keys": keys})
	case "revoke":
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: keys revoke: want one key id", errUsage)
		}
		id := fs.Arg(0)
		if err := st.RevokeKey(ctx, "", id, time.Now().UTC()); err != nil {
			return fmt.Errorf("keys revoke %s: %w", id, err)
		}
		return enc.Encode(map[string]any{"id": id, "revoked": true})
	}
	return fmt.Errorf("%w: keys %s: want create, list or revoke", errUsage, sub)
}
