// Package redisevents is the events.Fanout on Redis Streams: every stored
// event is also added (XADD) to a stream per job, whet:events:JOB, and every
// process that has SSE subscribers of a job reads that stream (XREAD BLOCK)
// to wake them and hand them the events without a database query.
//
// The store stays the source of truth: an event is added to the stream only
// after its transaction committed, a subscriber that sees a gap reads the
// store, and while Redis is unreachable publishing fails quietly (logged)
// and subscribers poll the store, so a Redis restart delays events and
// loses none. Watchers reconnect with backoff and then wake their
// subscribers to read what they missed.
package redisevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/whetstone/whetstone/internal/events"
	"github.com/whetstone/whetstone/internal/store"
)

const (
	keyPrefix = "whet:events:"
	// maxLen bounds each job's stream (approximately); older events are
	// read from the store.
	maxLen = 10_000
	// ttl expires a job's stream after its last event.
	ttl = 7 * 24 * time.Hour
	// block is how long one XREAD waits.
	block = 5 * time.Second
)

// Fanout is an events.Fanout on Redis.
type Fanout struct {
	url     string
	pub     *redis.Client // publishes (short commands)
	sub     *redis.Client // blocking reads, one connection per watched job
	log     *slog.Logger
	healthy atomic.Bool
	// failedAt (unix ns) is the last failed publish: while Redis is down,
	// publishing is tried at most once per second, so event writers and
	// Notify never queue behind a dead server.
	failedAt atomic.Int64
}

var _ events.Fanout = (*Fanout)(nil)

// quiet routes go-redis's own log lines (dial failures) to slog at debug:
// our errors already say what failed.
type quiet struct{}

func (quiet) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

var setLogger sync.Once

// Open connects to redis://HOST:PORT/DB (rediss:// for TLS; a password in the
// URL is allowed) and checks it answers within ctx.
func Open(ctx context.Context, url string, log *slog.Logger) (*Fanout, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	setLogger.Do(func() { redis.SetLogger(quiet{}) })
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("events %s: %w (want redis://HOST:PORT/DB)", redact(url), err)
	}
	opt.MaxRetries = 0 // a failed publish is not retried: the store has the events
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 2 * time.Second
	opt.WriteTimeout = 2 * time.Second
	pub := redis.NewClient(opt)
	sopt := *opt
	sopt.ReadTimeout = block + 5*time.Second
	sopt.PoolSize = 100_000 // one per job with subscribers, opened on demand
	sopt.MaxRetries = 0
	sub := redis.NewClient(&sopt)
	f := &Fanout{url: redact(url), pub: pub, sub: sub, log: log}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pub.Ping(pctx).Err(); err != nil {
		pub.Close()
		sub.Close()
		return nil, fmt.Errorf("events %s: Redis does not answer: %w", f.url, err)
	}
	f.healthy.Store(true)
	return f, nil
}

func redact(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j > 0 && j < i {
			return u[:j+3] + "REDACTED" + u[i:]
		}
	}
	return u
}

// Close closes the connections.
func (f *Fanout) Close() error { return errors.Join(f.pub.Close(), f.sub.Close()) }

// Healthy implements events.Fanout.
func (f *Fanout) Healthy() bool { return f.healthy.Load() }

// Ping reports whether Redis answers.
func (f *Fanout) Ping(ctx context.Context) error {
	if err := f.pub.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("events %s: %w", f.url, err)
	}
	return nil
}

// String names the fan-out for logs.
func (f *Fanout) String() string { return f.url }

// Key is a job's stream.
func Key(jobID string) string { return keyPrefix + jobID }

// Publish implements events.Fanout: one XADD per event (a bare "wake"
// entry when evs is empty), MAXLEN ~10,000, and the stream's expiry renewed,
// in one round trip.
func (f *Fanout) Publish(ctx context.Context, jobID string, evs []store.Event) error {
	if !f.healthy.Load() && time.Since(time.Unix(0, f.failedAt.Load())) < time.Second {
		return fmt.Errorf("events %s: publish %s: Redis unavailable (retried within a second)", f.url, jobID)
	}
	key := Key(jobID)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_, err := f.pub.Pipelined(ctx, func(p redis.Pipeliner) error {
		if len(evs) == 0 {
			p.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: maxLen, Approx: true, Values: []any{"wake", "1"}})
		}
		for _, e := range evs {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			p.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: maxLen, Approx: true, Values: []any{"e", b}})
		}
		p.Expire(ctx, key, ttl)
		return nil
	})
	if err != nil {
		f.healthy.Store(false)
		f.failedAt.Store(time.Now().UnixNano())
		return fmt.Errorf("events %s: publish %s: %w", f.url, jobID, err)
	}
	f.healthy.Store(true)
	return nil
}

// lastID returns the stream's newest entry id, "0-0" when it is empty.
func (f *Fanout) lastID(ctx context.Context, key string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	msgs, err := f.pub.XRevRangeN(ctx, key, "+", "-", 1).Result()
	if err != nil {
		return "", err
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}

// Watch implements events.Fanout. It returns once it knows where the stream
// ends (or that Redis is unreachable: then it keeps trying in the
// background and wakes the subscribers when it is back).
func (f *Fanout) Watch(ctx context.Context, jobID string, fn func([]store.Event)) error {
	key := Key(jobID)
	last, err := f.lastID(ctx, key)
	if err != nil {
		f.healthy.Store(false)
	}
	go f.watch(ctx, key, last, fn)
	if err != nil {
		return fmt.Errorf("events %s: watch %s: %w", f.url, jobID, err)
	}
	return nil
}

func (f *Fanout) watch(ctx context.Context, key, last string, fn func([]store.Event)) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		if last == "" {
			// (Re)connecting: find the end, then have subscribers read
			// the store for what was published meanwhile.
			id, err := f.lastID(ctx, key)
			if err != nil {
				f.sleep(ctx, &delay, key, err)
				continue
			}
			last = id
			f.healthy.Store(true)
			fn(nil)
		}
		res, err := f.sub.XRead(ctx, &redis.XReadArgs{Streams: []string{key, last}, Count: 1000, Block: block}).Result()
		if errors.Is(err, redis.Nil) {
			continue // nothing within block
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			last = ""
			f.sleep(ctx, &delay, key, err)
			continue
		}
		delay = 100 * time.Millisecond
		var evs []store.Event
		wake := false
		for _, s := range res {
			for _, m := range s.Messages {
				last = m.ID
				raw, ok := m.Values["e"].(string)
				if !ok {
					wake = true
					continue
				}
				var e store.Event
				if json.Unmarshal([]byte(raw), &e) != nil {
					wake = true
					continue
				}
				evs = append(evs, e)
			}
		}
		if len(evs) > 0 || wake {
			fn(evs)
		}
	}
}

func (f *Fanout) sleep(ctx context.Context, delay *time.Duration, key string, err error) {
	f.healthy.Store(false)
	d := time.Duration(float64(*delay) * (0.75 + rand.Float64()/2))
	f.log.Warn("events: Redis read failed, retrying", slog.String("stream", key), slog.Duration("retry_in", d), slog.Any("error", err))
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	t.Stop()
	*delay = min(2**delay, 5*time.Second)
}

// DeleteJob removes a job's stream (retention).
func (f *Fanout) DeleteJob(ctx context.Context, jobID string) error {
	return f.pub.Del(ctx, Key(jobID)).Err()
}
