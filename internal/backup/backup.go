// Package backup takes a consistent online backup of a Whetstone data
// folder and restores it: the SQLite database through `VACUUM INTO` (a
// transactionally consistent copy taken while the server writes), then every
// blob the store holds, each checked by SHA-256 and listed in a manifest.
// The database is copied first, so every blob it refers to already exists
// when the blobs are copied; blobs written later are copied too and are
// harmless (gc sweeps unreferenced ones).
package backup

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/whetstone/whetstone/internal/blob"
)

// ManifestFile is the manifest's name inside a backup folder.
const ManifestFile = "manifest.json"

// Manifest describes a backup.
type Manifest struct {
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	// Database is the database file's name in the backup folder and its
	// SHA-256.
	Database       string      `json:"database"`
	DatabaseSHA256 string      `json:"database_sha256"`
	DatabaseBytes  int64       `json:"database_bytes"`
	Blobs          []blob.Info `json:"blobs"`
	BlobBytes      int64       `json:"blob_bytes"`
}

// Progress hears about copied bytes (done of total); either may be nil.
type Progress func(done, total int64)

// Backup writes a backup of the SQLite database at dbPath and every object
// of blobs into dir, which must be empty or absent.
func Backup(ctx context.Context, dbPath string, blobs blob.Store, dir string, progress Progress) (*Manifest, error) {
	if err := emptyDir(dir); err != nil {
		return nil, err
	}
	m := &Manifest{Version: 1, CreatedAt: time.Now().UTC(), Database: "whet.db"}
	dbDst := filepath.Join(dir, m.Database)
	if err := snapshotSQLite(ctx, dbPath, dbDst); err != nil {
		return nil, err
	}
	sum, n, err := fileSum(dbDst)
	if err != nil {
		return nil, err
	}
	m.DatabaseSHA256, m.DatabaseBytes = sum, n

	infos, err := blobs.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("backup: list blobs: %w", err)
	}
	var total, done int64
	for _, in := range infos {
		total += in.Size
	}
	for _, in := range infos {
		got, err := copyOut(ctx, blobs, in, filepath.Join(dir, "blobs", filepath.FromSlash(in.Key)), func(k int64) {
			if progress != nil {
				progress(done+k, total)
			}
		})
		if errors.Is(err, blob.ErrNotFound) {
			continue // deleted since the listing (gc); the database copy does not need it
		}
		if err != nil {
			return nil, err
		}
		done += got.Size
		m.Blobs = append(m.Blobs, got)
		m.BlobBytes += got.Size
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return m, nil
}

// Restore checks the backup in dir against its manifest and restores it: the
// database to dbPath (which must not exist) and every blob into blobs.
func Restore(ctx context.Context, dir, dbPath string, blobs blob.Store, progress Progress) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("restore: %w (is %s a backup folder?)", err, dir)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("restore: %s: %w", ManifestFile, err)
	}
	if m.Version != 1 || m.Database == "" || strings.ContainsAny(m.Database, `/\`) {
		return nil, fmt.Errorf("restore: %s: unsupported manifest (version %d)", ManifestFile, m.Version)
	}
	if _, err := os.Stat(dbPath); err == nil {
		return nil, fmt.Errorf("restore: %s already exists: restore into a new data folder", dbPath)
	}
	src := filepath.Join(dir, m.Database)
	if sum, _, err := fileSum(src); err != nil {
		return nil, err
	} else if sum != m.DatabaseSHA256 {
		return nil, fmt.Errorf("restore: %s: sha256 %s, manifest says %s", src, sum, m.DatabaseSHA256)
	}
	var total, done int64
	for _, in := range m.Blobs {
		total += in.Size
		if err := blob.ValidKey(in.Key); err != nil {
			return nil, fmt.Errorf("restore: manifest: %w", err)
		}
	}
	for _, in := range m.Blobs {
		f, err := os.Open(filepath.Join(dir, "blobs", filepath.FromSlash(in.Key)))
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		got, err := blobs.Put(ctx, in.Key, &countingReader{r: f, f: func(k int64) {
			if progress != nil {
				progress(done+k, total)
			}
		}})
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("restore: blob %s: %w", in.Key, err)
		}
		if in.SHA256 != "" && got.SHA256 != in.SHA256 {
			return nil, fmt.Errorf("restore: blob %s: sha256 %s, manifest says %s", in.Key, got.SHA256, in.SHA256)
		}
		done += got.Size
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	// The database last: a half-restored folder has no database and is not
	// mistaken for a working one.
	if err := copyFile(src, dbPath); err != nil {
		return nil, err
	}
	return &m, nil
}

// snapshotSQLite writes a consistent copy of the database at src to dst
// with VACUUM INTO, which reads inside one transaction while writers go on
// (WAL mode).
func snapshotSQLite(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: database: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(src)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer db.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("backup: VACUUM INTO %s: %w", dst, err)
	}
	return nil
}

// copyOut copies one object to path, checking its SHA-256 against the
// store's.
func copyOut(ctx context.Context, blobs blob.Store, in blob.Info, path string, progress func(int64)) (blob.Info, error) {
	info, err := blob.Download(ctx, blobs, in.Key, path)
	if err != nil {
		return blob.Info{}, fmt.Errorf("backup: blob %s: %w", in.Key, err)
	}
	if progress != nil {
		progress(info.Size)
	}
	return info, nil
}

func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("backup: %s is not empty", dir)
	}
	return nil
}

func fileSum(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("backup: %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer in.Close()
	tmp := dst + ".restoring"
	out, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("restore: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return os.Rename(tmp, dst)
}

type countingReader struct {
	r io.Reader
	n int64
	f func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.f != nil && n > 0 {
		c.f(c.n)
	}
	return n, err
}
