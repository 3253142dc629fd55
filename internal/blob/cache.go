package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Cache gives a worker local copies of blobs when its store is not a local
// folder (S3): downloads are kept in one folder named by their SHA-256,
// bounded in total size (the least recently used go first), and handed out
// as hard links, so an entry evicted while a node reads it stays readable
// and the same content is downloaded once however many nodes, jobs or keys
// use it. With a local store, Materialize returns the store's own files.
type Cache struct {
	s   Store
	dir string
	max int64

	mu       sync.Mutex
	inflight map[string]*sync.Mutex // per SHA-256: one download at a time
}

// NewCache returns a cache of s's objects in dir holding at most max bytes
// (0: no copies are kept; every Materialize downloads).
func NewCache(s Store, dir string, max int64) (*Cache, error) {
	if _, local := s.(Localizer); !local {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("blob cache: %w", err)
		}
	}
	return &Cache{s: s, dir: dir, max: max, inflight: map[string]*sync.Mutex{}}, nil
}

// Materialize returns a readable local path for key: a file, or for a key
// ending in "/" a folder of every object under it, or, when only names
// files (slash-separated paths relative to key), of those of them present.
// With a local store it is the store's own file or whole folder; otherwise
// the objects are placed at dst (links into the cache, or downloads), so a
// folder placed with only must not share dst with the whole one. Callers
// must not write to what it returns.
func (c *Cache) Materialize(ctx context.Context, key, dst string, only ...string) (string, error) {
	if l, ok := c.s.(Localizer); ok {
		return l.LocalPath(key)
	}
	if !strings.HasSuffix(key, "/") {
		return dst, c.Fetch(ctx, key, dst)
	}
	list, err := c.s.List(ctx, key)
	if err != nil {
		return "", err
	}
	if len(only) > 0 {
		list = slices.DeleteFunc(list, func(i Info) bool { return !slices.Contains(only, strings.TrimPrefix(i.Key, key)) })
		if len(list) == 0 {
			return "", fmt.Errorf("materialize %s: none of %s: %w", key, strings.Join(only, ", "), ErrNotFound)
		}
	}
	if len(list) == 0 {
		return "", fmt.Errorf("materialize %s: %w", key, ErrNotFound)
	}
	for _, i := range list {
		if err := c.Fetch(ctx, i.Key, filepath.Join(dst, filepath.FromSlash(strings.TrimPrefix(i.Key, key)))); err != nil {
			return "", err
		}
	}
	return dst, nil
}

// Fetch places the object at key in the local file dst, from the cache
// when it holds the object's content, else downloaded (and checked) once.
func (c *Cache) Fetch(ctx context.Context, key, dst string) error {
	info, err := c.s.Stat(ctx, key)
	if err != nil {
		return err
	}
	if info.SHA256 == "" || c.max <= 0 || info.Size > c.max {
		_, err := Download(ctx, c.s, key, dst)
		return err
	}
	entry := filepath.Join(c.dir, info.SHA256)
	c.mu.Lock()
	m := c.inflight[info.SHA256]
	if m == nil {
		m = &sync.Mutex{}
		c.inflight[info.SHA256] = m
	}
	c.mu.Unlock()
	m.Lock()
	if _, err := os.Stat(entry); err != nil {
		tmp := filepath.Join(c.dir, ".part-"+randHex())
		got, err := Download(ctx, c.s, key, tmp)
		if err == nil && got.SHA256 != info.SHA256 {
			err = fmt.Errorf("download %s: %w: changed while fetched", key, ErrChecksum)
		}
		if err == nil {
			os.Chmod(tmp, 0o444)
			err = os.Rename(tmp, entry)
		}
		if err != nil {
			os.Remove(tmp)
			m.Unlock()
			return err
		}
	}
	now := time.Now()
	os.Chtimes(entry, now, now) // recently used
	err = link(entry, dst)
	m.Unlock()
	if err != nil {
		return fmt.Errorf("fetch %s: %w", key, err)
	}
	c.evict()
	return nil
}

// link makes dst a hard link to src, or a copy across file systems.
func link(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	os.Remove(dst)
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// evict removes the least recently used entries while the cache holds
// more than max bytes.
func (c *Cache) evict() {
	c.mu.Lock()
	defer c.mu.Unlock()
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	type ent struct {
		name string
		size int64
		used time.Time
	}
	var all []ent
	var total int64
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			all = append(all, ent{e.Name(), fi.Size(), fi.ModTime()})
			total += fi.Size()
		}
	}
	if total <= c.max {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i].used.Before(all[j].used) })
	for _, e := range all {
		if total <= c.max {
			break
		}
		if os.Remove(filepath.Join(c.dir, e.name)) == nil {
			total -= e.size
		}
	}
}

// Size returns the bytes the cache holds.
func (c *Cache) Size() int64 {
	ents, _ := os.ReadDir(c.dir)
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && !strings.HasPrefix(e.Name(), ".") {
			n += fi.Size()
		}
	}
	return n
}

func randHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
