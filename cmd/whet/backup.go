package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"log/slog"

	"github.com/schollz/progressbar/v3"

	"github.com/whetstone/whetstone/internal/backup"
	"github.com/whetstone/whetstone/internal/config"
	"github.com/whetstone/whetstone/internal/platform"
	"github.com/whetstone/whetstone/internal/store/pgstore"
)

func init() {
	register(&command{name: "backup", summary: "take a consistent online backup of the database and blobs (--to DIR)", run: backupCmd})
	register(&command{name: "restore", summary: "restore a backup into a new data folder (--from DIR)", run: restoreCmd})
}

// externalDatabase explains what to do when the database is not SQLite.
func externalDatabase(cfg config.Config) error {
	if pgstore.IsURL(cfg.Database) {
		return fmt.Errorf("the database is PostgreSQL: back it up with pg_dump (and restore with pg_restore), and the S3 bucket " +
			"with the provider's versioning or replication; deploy/README.md#backups has the procedure")
	}
	return nil
}

func backupCmd(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	to := fs.String("to", "", "backup folder (must be empty or absent)")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: whet backup --to DIR [flags]\n\nCopies the SQLite database (VACUUM INTO, consistent while jobs run) and every blob,\nwith a SHA-256 manifest. Safe to run beside a running server.\n\nFlags:")
		fs.PrintDefaults()
	}
	cfg, err := parseFlags(fs, args, io.err)
	if err != nil {
		return err
	}
	if *to == "" {
		return fmt.Errorf("%w: --to DIR is required", errUsage)
	}
	if err := externalDatabase(cfg); err != nil {
		return err
	}
	blobs, err := platform.OpenBlobs(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(io.err), progressbar.OptionSetDescription("backup"),
		progressbar.OptionShowBytes(true), progressbar.OptionClearOnFinish())
	m, err := backup.Backup(ctx, cfg.Database, blobs, *to, func(done, total int64) {
		bar.ChangeMax64(total)
		bar.Set64(done)
	})
	bar.Finish()
	if err != nil {
		return err
	}
	return json.NewEncoder(io.out).Encode(map[string]any{"to": *to, "database_bytes": m.DatabaseBytes, "database_sha256": m.DatabaseSHA256,
		"blobs": len(m.Blobs), "blob_bytes": m.BlobBytes, "created_at": m.CreatedAt})
}

func restoreCmd(ctx context.Context, args []string, io stdio) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	from := fs.String("from", "", "backup folder made by `whet backup`")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: whet restore --from DIR --data-dir NEW [flags]\n\nChecks every file of a backup against its manifest and restores it into a new\ndata folder (the database must not exist there yet).\n\nFlags:")
		fs.PrintDefaults()
	}
	cfg, err := parseFlags(fs, args, io.err)
	if err != nil {
		return err
	}
	if *from == "" {
		return fmt.Errorf("%w: --from DIR is required", errUsage)
	}
	if err := externalDatabase(cfg); err != nil {
		return err
	}
	blobs, err := platform.OpenBlobs(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(io.err), progressbar.OptionSetDescription("restore"),
		progressbar.OptionShowBytes(true), progressbar.OptionClearOnFinish())
	m, err := backup.Restore(ctx, *from, cfg.Database, blobs, func(done, total int64) {
		bar.ChangeMax64(total)
		bar.Set64(done)
	})
	bar.Finish()
	if err != nil {
		return err
	}
	return json.NewEncoder(io.out).Encode(map[string]any{"data_dir": cfg.DataDir, "database": cfg.Database, "blobs": len(m.Blobs),
		"blob_bytes": m.BlobBytes, "backup_created_at": m.CreatedAt})
}
