// Package blob defines where Whetstone keeps large files (uploaded datasets,
// node artifacts, models): a key-value store of streams. fsblob keeps them in
// a local folder; an S3 backend implements the same interface.
//
// Keys are slash-separated relative paths ("datasets/ds_1/data.jsonl").
// ValidKey rejects keys that could escape the store's root.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrNotFound is returned for a key that holds nothing.
var ErrNotFound = errors.New("blob not found")

// ErrInvalidKey is returned for a key that is empty, absolute, or has "..",
// ".", empty or hidden-reserved segments, backslashes or control characters.
var ErrInvalidKey = errors.New("invalid blob key")

// Info describes a stored object.
type Info struct {
	Key     string    `json:"key"`
	Size    int64     `json:"size"`
	SHA256  string    `json:"sha256,omitempty"` // hex; empty when unknown
	ModTime time.Time `json:"mod_time"`
}

// Object is an open object; it supports Seek for HTTP Range requests.
type Object interface {
	io.ReadSeekCloser
	Info() Info
}

// Store keeps objects. Implementations must be safe for concurrent use;
// Put must be atomic (readers see the old object or the whole new one, never
// a part) and must not hold the whole stream in memory.
type Store interface {
	// Put stores r under key, returning its size and SHA-256.
	Put(ctx context.Context, key string, r io.Reader) (Info, error)
	// Open returns the object at key, or ErrNotFound.
	Open(ctx context.Context, key string) (Object, error)
	// Stat returns the object's info, or ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// List returns the objects whose keys start with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Info, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Ping reports whether the store is usable.
	Ping(ctx context.Context) error
}

// Localizer is implemented by stores whose objects are local files: LocalPath
// returns the file (or, for a prefix ending in "/", the folder) of key.
// Callers must not write to it.
type Localizer interface {
	LocalPath(key string) (string, error)
}

// FileImporter is implemented by stores that can take ownership of a local
// file cheaply (a rename on the same file system). The file is gone after a
// successful call.
type FileImporter interface {
	ImportFile(ctx context.Context, key, path string) (Info, error)
}

// ValidKey returns nil when key is a safe relative key, else an error
// wrapping ErrInvalidKey.
func ValidKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	if key == "" {
		return bad("empty")
	}
	if len(key) > 1024 {
		return bad("longer than 1024 bytes")
	}
	if strings.HasPrefix(key, "/") {
		return bad("absolute")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f || r == '\\' || r == ':' {
			return bad("has a control character, backslash or colon")
		}
	}
	for _, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return bad("has an empty segment")
		case seg == "." || seg == "..":
			return bad("has a '.' or '..' segment")
		case strings.HasPrefix(seg, ".whet"):
			return bad("has a reserved .whet segment")
		}
	}
	return nil
}

// ValidPrefix is ValidKey for a List prefix or folder key: "" and a trailing
// "/" are allowed.
func ValidPrefix(prefix string) error {
	p := strings.TrimSuffix(prefix, "/")
	if p == "" {
		if prefix == "" {
			return nil
		}
		return fmt.Errorf("%w %q: absolute", ErrInvalidKey, prefix)
	}
	return ValidKey(p)
}
