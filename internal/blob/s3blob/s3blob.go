// Package s3blob is a blob.Store on any S3-compatible server (AWS S3, MinIO,
// versitygw, Ceph RGW, ...), through minio-go's low-level Core API.
//
// Objects live under BUCKET/PREFIX/KEY, each with its SHA-256 in the user
// metadata "sha256". Put streams: a body that fits one part (PartSize) goes up
// in one PUT with its hash known; a longer one is uploaded in parts (one part
// buffer in memory, never the whole stream) to a temporary key under
// PREFIX/.whet-tmp/, hashed on the way, then copied server-side to its key
// with the hash as metadata and the temporary object removed. Readers thus
// see the old object or the whole new one; a failed Put leaves the old one.
//
// Every request is retried with exponential backoff and jitter while the
// error is transient (network errors, 5xx, throttling) for up to RetryFor,
// so a server that goes away for a few seconds delays work and loses none.
// Reads resume at their offset, pinned to the object's ETag.
package s3blob

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/whetstone/whetstone/internal/blob"
)

const (
	// DefaultPartSize is the multipart part size: the memory one Put holds.
	// With S3's limit of 10,000 parts it bounds an object at ~156 GiB.
	DefaultPartSize = 16 << 20
	minPartSize     = 5 << 20
	maxCopySize     = 5 << 30 // a single server-side CopyObject
	tmpPrefix       = ".whet-tmp/"
	metaSHA         = "sha256"
)

// Config is an s3:// URL's parts.
type Config struct {
	Bucket    string
	Prefix    string // "" or ending in "/"
	Endpoint  string // host:port
	Secure    bool   // https
	Region    string
	PathStyle bool
	AccessKey string
	SecretKey string
	PartSize  int64
	// RetryFor bounds how long transient errors are retried (default 2m).
	RetryFor time.Duration
}

// ParseURL reads s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=R&path_style=true
// (optional: part_size=BYTES, retry_for=DURATION); credentials come from
// getenv's AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
func ParseURL(raw string, getenv func(string) string) (Config, error) {
	bad := func(format string, a ...any) (Config, error) {
		return Config{}, fmt.Errorf("blob url %q: %s", redact(raw), fmt.Sprintf(format, a...))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("%v", err)
	}
	if u.Scheme != "s3" {
		return bad("scheme must be s3")
	}
	if u.User != nil {
		return bad("put credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, not in the URL")
	}
	c := Config{Bucket: u.Host, Region: "us-east-1", PartSize: DefaultPartSize, RetryFor: 2 * time.Minute}
	if c.Bucket == "" {
		return bad("no bucket (s3://BUCKET/PREFIX)")
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if err := blob.ValidKey(p); err != nil {
			return bad("prefix: %v", err)
		}
		c.Prefix = p + "/"
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "path_style", "part_size", "retry_for":
		default:
			return bad("unknown parameter %q (endpoint, region, path_style, part_size, retry_for)", k)
		}
	}
	c.Endpoint = "s3.amazonaws.com"
	c.Secure = true
	if e := q.Get("endpoint"); e != "" {
		eu, err := url.Parse(e)
		if err != nil || eu.Host == "" || (eu.Scheme != "http" && eu.Scheme != "https") {
			return bad("endpoint %q: want http://HOST:PORT or https://HOST", e)
		}
		c.Endpoint, c.Secure = eu.Host, eu.Scheme == "https"
	}
	if r := q.Get("region"); r != "" {
		c.Region = r
	}
	if ps := q.Get("path_style"); ps != "" {
		v, err := strconv.ParseBool(ps)
		if err != nil {
			return bad("path_style %q: want true or false", ps)
		}
		c.PathStyle = v
	}
	if ps := q.Get("part_size"); ps != "" {
		n, err := strconv.ParseInt(ps, 10, 64)
		if err != nil || n < minPartSize || n > 5<<30 {
			return bad("part_size %q: want bytes in [5 MiB, 5 GiB]", ps)
		}
		c.PartSize = n
	}
	if rf := q.Get("retry_for"); rf != "" {
		d, err := time.ParseDuration(rf)
		if err != nil || d < 0 {
			return bad("retry_for %q: want a duration", rf)
		}
		c.RetryFor = d
	}
	c.AccessKey, c.SecretKey = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if c.AccessKey == "" || c.SecretKey == "" {
		return bad("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set")
	}
	return c, nil
}

func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		u.User = url.User("REDACTED")
		return u.String()
	}
	return raw
}

// Store is a blob.Store on an S3 bucket.
type Store struct {
	cfg  Config
	core minio.Core
	log  *slog.Logger
}

var _ blob.Store = (*Store)(nil)

// Open connects and checks that the bucket exists and the credentials are
// accepted, within ctx (start-up checks are not retried for long: a bad
// configuration fails at once with an error naming what is wrong).
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	cl, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.Secure, Region: cfg.Region, BucketLookup: lookup,
		MaxRetries: 1, // retries are ours (backoff for up to RetryFor)
	})
	if err != nil {
		return nil, fmt.Errorf("s3 blob store %s: %w", cfg.Endpoint, err)
	}
	s := &Store{cfg: cfg, core: minio.Core{Client: cl}, log: log}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// check reports a missing bucket, rejected credentials or an unreachable
// endpoint in words.
func (s *Store) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	where := fmt.Sprintf("s3://%s at %s", s.cfg.Bucket, s.cfg.Endpoint)
	ok, err := s.core.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		er := minio.ToErrorResponse(err)
		switch {
		case er.Code == "InvalidAccessKeyId" || er.Code == "SignatureDoesNotMatch" || er.Code == "AccessDenied" || er.StatusCode == 403:
			return fmt.Errorf("s3 blob store %s: credentials rejected (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY): %w", where, err)
		case er.Code == "" && er.StatusCode == 0:
			return fmt.Errorf("s3 blob store %s: endpoint unreachable: %w", where, err)
		}
		return fmt.Errorf("s3 blob store %s: %w", where, err)
	}
	if !ok {
		return fmt.Errorf("s3 blob store %s: bucket %q does not exist (create it first)", where, s.cfg.Bucket)
	}
	// A HEAD on a bucket is allowed for some principals that cannot list.
	if _, err := s.core.ListObjectsV2(s.cfg.Bucket, s.cfg.Prefix, "", "", "/", 1); err != nil {
		return fmt.Errorf("s3 blob store %s: cannot list prefix %q: %w", where, s.cfg.Prefix, err)
	}
	return nil
}

// String names the store for logs.
func (s *Store) String() string { return "s3://" + s.cfg.Bucket + "/" + s.cfg.Prefix }

func (s *Store) name(key string) string { return s.cfg.Prefix + key }

// transient reports whether err may go away by retrying.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	er := minio.ToErrorResponse(err)
	switch {
	case er.StatusCode >= 500, er.StatusCode == 408, er.StatusCode == 429:
		return true
	case er.Code == "SlowDown" || er.Code == "RequestTimeout" || er.Code == "InternalError" || er.Code == "ServiceUnavailable":
		return true
	case er.StatusCode != 0 || er.Code != "":
		return false // an answer from the server: not found, denied, bad request
	}
	return true // network: refused, reset, EOF, timeout
}

// retry runs op until it succeeds, fails for good, ctx ends or RetryFor has
// passed, sleeping 100ms·2^n (capped at 5s, ±25% jitter) between tries.
func (s *Store) retry(ctx context.Context, what string, op func() error) error {
	deadline := time.Now().Add(s.cfg.RetryFor)
	delay := 100 * time.Millisecond
	for n := 1; ; n++ {
		err := op()
		if err == nil || !transient(err) || time.Now().After(deadline) {
			return err
		}
		d := time.Duration(float64(delay) * (0.75 + rand.Float64()/2))
		s.log.Warn("s3 request failed, retrying", slog.String("op", what), slog.Int("try", n), slog.Duration("retry_in", d), slog.Any("error", err))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (after: %v)", ctx.Err(), err)
		case <-t.C:
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func notFound(err error) bool {
	er := minio.ToErrorResponse(err)
	return er.StatusCode == 404 || er.Code == "NoSuchKey" || er.Code == "NotFound"
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.Info{}, err
	}
	buf := make([]byte, s.cfg.PartSize)
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		sum := sha256.Sum256(buf[:n])
		return s.putSmall(ctx, key, buf[:n], hex.EncodeToString(sum[:]))
	case err != nil:
		return blob.Info{}, fmt.Errorf("s3 put %s: %w", key, err)
	}
	return s.putLarge(ctx, key, buf, r)
}

func (s *Store) putSmall(ctx context.Context, key string, data []byte, sum string) (blob.Info, error) {
	sh := sha256.Sum256(data)
	var up minio.UploadInfo
	err := s.retry(ctx, "put "+key, func() error {
		var err error
		up, err = s.core.PutObject(ctx, s.cfg.Bucket, s.name(key), bytes.NewReader(data), int64(len(data)), "", hex.EncodeToString(sh[:]),
			minio.PutObjectOptions{UserMetadata: map[string]string{metaSHA: sum}, ContentType: "application/octet-stream"})
		return err
	})
	if err != nil {
		return blob.Info{}, fmt.Errorf("s3 put %s: %w", key, err)
	}
	mod := up.LastModified
	if mod.IsZero() {
		mod = time.Now().UTC()
	}
	return blob.Info{Key: key, Size: int64(len(data)), SHA256: sum, ModTime: mod}, nil
}

// putLarge uploads first (a full part) and the rest of r in parts to a
// temporary key, then copies it to key with its SHA-256.
func (s *Store) putLarge(ctx context.Context, key string, first []byte, r io.Reader) (info blob.Info, err error) {
	tmp := s.cfg.Prefix + tmpPrefix + time.Now().UTC().Format("20060102T150405") + "-" + randHex(8)
	var id string
	err = s.retry(ctx, "create multipart "+key, func() error {
		var err error
		id, err = s.core.NewMultipartUpload(ctx, s.cfg.Bucket, tmp, minio.PutObjectOptions{ContentType: "application/octet-stream"})
		return err
	})
	if err != nil {
		return blob.Info{}, fmt.Errorf("s3 put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			s.retry(actx, "abort multipart", func() error { return s.core.AbortMultipartUpload(actx, s.cfg.Bucket, tmp, id) })
		}
	}()
	h := sha256.New()
	var parts []minio.CompletePart
	var size int64
	buf, n := first, len(first)
	for part := 1; ; part++ {
		if part > 10000 {
			return blob.Info{}, fmt.Errorf("s3 put %s: over 10,000 parts of %d bytes", key, s.cfg.PartSize)
		}
		data := buf[:n]
		h.Write(data)
		size += int64(n)
		psum := sha256.Sum256(data)
		var p minio.ObjectPart
		err = s.retry(ctx, "upload part "+key, func() error {
			var err error
			p, err = s.core.PutObjectPart(ctx, s.cfg.Bucket, tmp, id, part, bytes.NewReader(data), int64(n), minio.PutObjectPartOptions{Sha256Hex: hex.EncodeToString(psum[:])})
			return err
		})
		if err != nil {
			return blob.Info{}, fmt.Errorf("s3 put %s: part %d: %w", key, part, err)
		}
		parts = append(parts, minio.CompletePart{PartNumber: part, ETag: p.ETag})
		var rerr error
		n, rerr = io.ReadFull(r, buf)
		if rerr == io.EOF {
			break
		}
		if rerr != nil && rerr != io.ErrUnexpectedEOF {
			return blob.Info{}, fmt.Errorf("s3 put %s: %w", key, rerr)
		}
		if err = ctx.Err(); err != nil {
			return blob.Info{}, err
		}
		if rerr == io.ErrUnexpectedEOF {
			// A last, short part.
			data := buf[:n]
			h.Write(data)
			size += int64(n)
			psum := sha256.Sum256(data)
			err = s.retry(ctx, "upload part "+key, func() error {
				var err error
				p, err = s.core.PutObjectPart(ctx, s.cfg.Bucket, tmp, id, part+1, bytes.NewReader(data), int64(n), minio.PutObjectPartOptions{Sha256Hex: hex.EncodeToString(psum[:])})
				return err
			})
			if err != nil {
				return blob.Info{}, fmt.Errorf("s3 put %s: part %d: %w", key, part+1, err)
			}
			parts = append(parts, minio.CompletePart{PartNumber: part + 1, ETag: p.ETag})
			break
		}
	}
	err = s.retry(ctx, "complete multipart "+key, func() error {
		_, err := s.core.CompleteMultipartUpload(ctx, s.cfg.Bucket, tmp, id, parts, minio.PutObjectOptions{})
		return err
	})
	if err != nil {
		return blob.Info{}, fmt.Errorf("s3 put %s: %w", key, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		s.retry(dctx, "remove temporary", func() error {
			return s.core.RemoveObject(dctx, s.cfg.Bucket, tmp, minio.RemoveObjectOptions{})
		})
	}()
	if err := s.copyWithSum(ctx, tmp, s.name(key), size, sum); err != nil {
		return blob.Info{}, fmt.Errorf("s3 put %s: %w", key, err)
	}
	return blob.Info{Key: key, Size: size, SHA256: sum, ModTime: time.Now().UTC()}, nil
}

// copyWithSum copies src to dst server-side, replacing the metadata with sum.
func (s *Store) copyWithSum(ctx context.Context, src, dst string, size int64, sum string) error {
	dstOpts := minio.CopyDestOptions{Bucket: s.cfg.Bucket, Object: dst, ReplaceMetadata: true,
		UserMetadata: map[string]string{metaSHA: sum}}
	srcOpts := minio.CopySrcOptions{Bucket: s.cfg.Bucket, Object: src}
	return s.retry(ctx, "copy", func() error {
		var err error
		if size <= maxCopySize {
			_, err = s.core.Client.CopyObject(ctx, dstOpts, srcOpts)
		} else {
			_, err = s.core.Client.ComposeObject(ctx, dstOpts, srcOpts)
		}
		return err
	})
}

func (s *Store) infoOf(key string, oi minio.ObjectInfo) blob.Info {
	var sum string
	for k, v := range oi.UserMetadata {
		if strings.EqualFold(k, metaSHA) || strings.EqualFold(k, "X-Amz-Meta-"+metaSHA) {
			sum = v
		}
	}
	if sum == "" {
		sum = oi.Metadata.Get("X-Amz-Meta-" + metaSHA)
	}
	return blob.Info{Key: key, Size: oi.Size, SHA256: sum, ModTime: oi.LastModified}
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.Info{}, err
	}
	var oi minio.ObjectInfo
	err := s.retry(ctx, "stat "+key, func() error {
		var err error
		oi, err = s.core.StatObject(ctx, s.cfg.Bucket, s.name(key), minio.StatObjectOptions{})
		return err
	})
	if notFound(err) {
		return blob.Info{}, fmt.Errorf("s3 stat %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("s3 stat %s: %w", key, err)
	}
	return s.infoOf(key, oi), nil
}

// Open implements blob.Store. The object reads the version it was opened
// at (reads after a Seek, or resumed after an error, ask for its ETag).
func (s *Store) Open(ctx context.Context, key string) (blob.Object, error) {
	if err := blob.ValidKey(key); err != nil {
		return nil, err
	}
	var (
		body io.ReadCloser
		oi   minio.ObjectInfo
	)
	err := s.retry(ctx, "get "+key, func() error {
		var err error
		body, oi, _, err = s.core.GetObject(ctx, s.cfg.Bucket, s.name(key), minio.GetObjectOptions{})
		return err
	})
	if notFound(err) {
		return nil, fmt.Errorf("s3 open %s: %w", key, blob.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("s3 open %s: %w", key, err)
	}
	return &object{s: s, ctx: ctx, key: key, etag: oi.ETag, info: s.infoOf(key, oi), body: body}, nil
}

// object is a blob.Object: one streaming GET, reopened with a Range at the
// current offset after a Seek or a transient read error.
type object struct {
	s    *Store
	ctx  context.Context
	key  string
	etag string
	info blob.Info
	body io.ReadCloser
	off  int64
}

func (o *object) Info() blob.Info { return o.info }

func (o *object) Read(p []byte) (int, error) {
	if o.off >= o.info.Size {
		return 0, io.EOF
	}
	for tries := 0; ; tries++ {
		if o.body == nil {
			if err := o.reopen(); err != nil {
				return 0, err
			}
		}
		n, err := o.body.Read(p)
		o.off += int64(n)
		if err == nil {
			return n, nil
		}
		o.body.Close()
		o.body = nil
		if err == io.EOF && o.off >= o.info.Size {
			return n, io.EOF
		}
		// The stream broke early: the next read resumes at o.off.
		if n > 0 {
			return n, nil
		}
		if tries >= 20 || (err != io.EOF && !transient(err)) {
			return 0, fmt.Errorf("s3 read %s at %d: %w", o.key, o.off, err)
		}
	}
}

func (o *object) reopen() error {
	return o.s.retry(o.ctx, "get "+o.key, func() error {
		opts := minio.GetObjectOptions{}
		if o.etag != "" {
			opts.SetMatchETag(o.etag)
		}
		opts.SetRange(o.off, o.info.Size-1)
		body, _, _, err := o.s.core.GetObject(o.ctx, o.s.cfg.Bucket, o.s.name(o.key), opts)
		if err != nil {
			if er := minio.ToErrorResponse(err); er.StatusCode == 412 {
				return fmt.Errorf("s3 read %s: the object changed while it was read", o.key)
			}
			return err
		}
		o.body = body
		return nil
	})
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = o.off + offset
	case io.SeekEnd:
		abs = o.info.Size + offset
	default:
		return 0, fmt.Errorf("s3 seek %s: bad whence %d", o.key, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("s3 seek %s: negative offset", o.key)
	}
	if abs != o.off && o.body != nil {
		o.body.Close()
		o.body = nil
	}
	o.off = abs
	return abs, nil
}

func (o *object) Close() error {
	if o.body != nil {
		err := o.body.Close()
		o.body = nil
		return err
	}
	return nil
}

// List implements blob.Store.
func (s *Store) List(ctx context.Context, prefix string) ([]blob.Info, error) {
	if err := blob.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	out, err := s.list(ctx, s.name(prefix))
	if err != nil {
		return nil, err
	}
	keep := out[:0]
	for _, i := range out {
		if !strings.HasPrefix(i.Key, tmpPrefix) {
			keep = append(keep, i)
		}
	}
	return keep, nil
}

// list lists full names under the bucket prefix, returning keys relative
// to the store's prefix.
func (s *Store) list(ctx context.Context, full string) ([]blob.Info, error) {
	var out []blob.Info
	token := ""
	for {
		var res minio.ListBucketV2Result
		err := s.retry(ctx, "list "+full, func() error {
			var err error
			res, err = s.core.ListObjectsV2(s.cfg.Bucket, full, "", token, "", 1000)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("s3 list %s: %w", full, err)
		}
		for _, c := range res.Contents {
			out = append(out, blob.Info{Key: strings.TrimPrefix(c.Key, s.cfg.Prefix), Size: c.Size, ModTime: c.LastModified})
		}
		if !res.IsTruncated || res.NextContinuationToken == "" {
			break
		}
		token = res.NextContinuationToken
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	err := s.retry(ctx, "delete "+key, func() error {
		return s.core.RemoveObject(ctx, s.cfg.Bucket, s.name(key), minio.RemoveObjectOptions{})
	})
	if err != nil && !notFound(err) {
		return fmt.Errorf("s3 delete %s: %w", key, err)
	}
	return nil
}

// Ping implements blob.Store: one quick request, not retried.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.core.ListObjectsV2(s.cfg.Bucket, s.cfg.Prefix, "", "", "/", 1); err != nil {
		return fmt.Errorf("s3 ping %s: %w", s, err)
	}
	return nil
}

// SweepTemporary removes temporary objects and unfinished multipart uploads
// older than age (left by processes killed mid-Put), returning how many. With
// dryRun it only counts them.
func (s *Store) SweepTemporary(ctx context.Context, age time.Duration, dryRun bool) (int, error) {
	cut := time.Now().Add(-age)
	n := 0
	tmps, err := s.list(ctx, s.cfg.Prefix+tmpPrefix)
	if err != nil {
		return 0, err
	}
	for _, t := range tmps {
		if t.ModTime.After(cut) {
			continue
		}
		n++
		if !dryRun {
			if err := s.retry(ctx, "sweep", func() error {
				return s.core.RemoveObject(ctx, s.cfg.Bucket, s.cfg.Prefix+t.Key, minio.RemoveObjectOptions{})
			}); err != nil && !notFound(err) {
				return n, fmt.Errorf("s3 sweep %s: %w", t.Key, err)
			}
		}
	}
	res, err := s.core.ListMultipartUploads(ctx, s.cfg.Bucket, s.cfg.Prefix+tmpPrefix, "", "", "", 1000)
	if err != nil {
		// Not every server lists uploads; the objects above are swept anyway.
		s.log.Warn("s3 list multipart uploads", slog.Any("error", err))
		return n, nil
	}
	for _, u := range res.Uploads {
		if u.Initiated.After(cut) {
			continue
		}
		n++
		if !dryRun {
			s.core.AbortMultipartUpload(ctx, s.cfg.Bucket, u.Key, u.UploadID)
		}
	}
	return n, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	crand.Read(b)
	return hex.EncodeToString(b)
}

// FromEnv is ParseURL with os.Getenv.
func FromEnv(raw string) (Config, error) { return ParseURL(raw, os.Getenv) }
