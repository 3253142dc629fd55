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
// subscribers to read what they missed. A process whose publish failed
// owes the job's subscribers elsewhere a wake-up (their own watch works, so
// they cannot tell): it sends one as soon as Redis answers it again, trying
// every 100ms, backing off to 1s while it does not. It owes each job one
// wake-up however many publishes failed, and at most 10,000 jobs: past that
// it owes every watcher one wake-up instead, an entry in the stream
// whet:events-wake that every watch reads beside its job's.
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
	// wakeKey is the stream every watch reads beside its job's: an entry
	// wakes every subscriber of every job (owed wake-ups past maxOwed).
	wakeKey = "whet:events-wake"
	// maxOwed bounds the jobs owed a wake-up each; past it, every watcher
	// is owed one.
	maxOwed = 10_000
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

	mu sync.Mutex
	// owed are the jobs whose announcement failed or was skipped, each
	// with the generation of its latest one: the repairer sends each a
	// bare wake-up and forgets the job unless it failed again meanwhile.
	// It holds at most maxOwed jobs (each once).
	owed    map[string]uint64
	gen     uint64
	maxOwed int
	// everyone, when not 0, is the generation of the latest announcement
	// that failed once owed had maxOwed jobs: then owed is emptied and the
	// repairer wakes every watcher (wakeKey) instead; merged counts the
	// per-job wake-ups that one stands for.
	everyone  uint64
	merged    int
	repairing bool
	kick      chan struct{} // a publish worked: repair now
	closed    chan struct{}
	closeOnce sync.Once
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
	opt.MaxRetries = -1 // a failed publish is not retried (go-redis: 0 would mean 3): the store has the events and a wake-up is owed
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 2 * time.Second
	opt.WriteTimeout = 2 * time.Second
	pub := redis.NewClient(opt)
	sopt := *opt
	sopt.ReadTimeout = block + 5*time.Second
	sopt.PoolSize = 100_000 // one per job with subscribers, opened on demand
	sopt.MaxRetries = -1
	sub := redis.NewClient(&sopt)
	f := &Fanout{url: redact(url), pub: pub, sub: sub, log: log,
		owed: map[string]uint64{}, maxOwed: maxOwed, kick: make(chan struct{}, 1), closed: make(chan struct{})}
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

// Close stops the repairer and closes the connections. Wake-ups still owed
// are dropped: the other processes' subscribers read the store at their
// safety poll.
func (f *Fanout) Close() error {
	var err error
	f.closeOnce.Do(func() {
		close(f.closed)
		err = errors.Join(f.pub.Close(), f.sub.Close())
	})
	return err
}

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
// in one round trip. When it fails (or is skipped: within a second of a
// failure), the job is owed a wake-up, sent once Redis answers again.
func (f *Fanout) Publish(ctx context.Context, jobID string, evs []store.Event) error {
	if !f.healthy.Load() && time.Since(time.Unix(0, f.failedAt.Load())) < time.Second {
		f.owe(jobID)
		return fmt.Errorf("events %s: publish %s: Redis unavailable (retried within a second)", f.url, jobID)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_, err := f.pub.Pipelined(ctx, func(p redis.Pipeliner) error {
		key := Key(jobID)
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
		f.owe(jobID)
		return fmt.Errorf("events %s: publish %s: %w", f.url, jobID, err)
	}
	f.healthy.Store(true)
	select { // wake-ups still owed can go now
	case f.kick <- struct{}{}:
	default:
	}
	return nil
}

// wakeAll adds a bare wake-up entry to each job's stream, and with
// everyone one to wakeKey, in one round trip.
func (f *Fanout) wakeAll(ctx context.Context, jobs []string, everyone bool) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := f.pub.Pipelined(ctx, func(p redis.Pipeliner) error {
		if everyone {
			p.XAdd(ctx, &redis.XAddArgs{Stream: wakeKey, MaxLen: 100, Approx: true, Values: []any{"wake", "1"}})
			p.Expire(ctx, wakeKey, ttl)
		}
		for _, j := range jobs {
			p.XAdd(ctx, &redis.XAddArgs{Stream: Key(j), MaxLen: maxLen, Approx: true, Values: []any{"wake", "1"}})
			p.Expire(ctx, Key(j), ttl)
		}
		return nil
	})
	return err
}

// owe records that jobID's subscribers in other processes missed an
// announcement, and starts the repairer unless it runs. A job is owed one
// wake-up however often it is owed; past maxOwed jobs, every watcher is.
func (f *Fanout) owe(jobID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	switch _, ok := f.owed[jobID]; {
	case f.everyone != 0:
		f.everyone = f.gen
		f.merged++
	case !ok && len(f.owed) >= f.maxOwed:
		f.log.Warn("events: too many jobs owed a wake-up while Redis is unavailable; dropping the per-job wake-ups, every watcher will be woken once Redis answers",
			slog.Int("max_jobs", f.maxOwed), slog.String("events", f.url))
		f.merged = len(f.owed) + 1
		clear(f.owed)
		f.everyone = f.gen
	default:
		f.owed[jobID] = f.gen
	}
	if !f.repairing {
		f.repairing = true
		select { // a kick from before the failure
		case <-f.kick:
		default:
		}
		go f.repair()
	}
}

// repair sends the owed wake-ups: 100ms after the first failure, at once
// when a publish works again, and otherwise backing off to every second
// while Redis does not answer. It ends when nothing is owed or at Close.
func (f *Fanout) repair() {
	delay := 100 * time.Millisecond
	for {
		t := time.NewTimer(time.Duration(float64(delay) * (0.75 + rand.Float64()/2)))
		select {
		case <-f.closed:
			t.Stop()
			return
		case <-f.kick:
		case <-t.C:
		}
		t.Stop()
		f.mu.Lock()
		owed := make(map[string]uint64, len(f.owed))
		jobs := make([]string, 0, len(f.owed))
		for j, g := range f.owed {
			owed[j] = g
			jobs = append(jobs, j)
		}
		everyone, merged := f.everyone, f.merged
		f.mu.Unlock()
		err := f.wakeAll(context.Background(), jobs, everyone != 0)
		f.mu.Lock()
		if err == nil {
			for j, g := range owed {
				if f.owed[j] == g { // not failed again meanwhile
					delete(f.owed, j)
				}
			}
			if everyone != 0 {
				f.log.Info("events: Redis answers again; woke every watcher in place of the per-job wake-ups owed",
					slog.Int("wake_ups", merged), slog.String("events", f.url))
				if f.everyone == everyone {
					f.everyone, f.merged = 0, 0
				} else {
					f.merged -= merged
				}
			}
		}
		if len(f.owed) == 0 && f.everyone == 0 {
			f.repairing = false
			f.mu.Unlock()
			if err == nil {
				f.healthy.Store(true)
			}
			return
		}
		f.mu.Unlock()
		if err != nil {
			f.log.Debug("events: owed wake-ups not sent yet", slog.Int("jobs", len(jobs)), slog.Bool("everyone", everyone != 0), slog.Any("error", err))
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 100 * time.Millisecond
	}
}

// lastIDs returns the newest entry ids of key and of wakeKey ("0-0" for an
// empty stream), in one round trip.
func (f *Fanout) lastIDs(ctx context.Context, key string) (last, lastWake string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var job, wake *redis.XMessageSliceCmd
	if _, err := f.pub.Pipelined(ctx, func(p redis.Pipeliner) error {
		job = p.XRevRangeN(ctx, key, "+", "-", 1)
		wake = p.XRevRangeN(ctx, wakeKey, "+", "-", 1)
		return nil
	}); err != nil {
		return "", "", err
	}
	id := func(msgs []redis.XMessage) string {
		if len(msgs) == 0 {
			return "0-0"
		}
		return msgs[0].ID
	}
	return id(job.Val()), id(wake.Val()), nil
}

// Watch implements events.Fanout. It returns once it knows where the stream
// ends (or that Redis is unreachable: then it keeps trying in the
// background and wakes the subscribers when it is back).
func (f *Fanout) Watch(ctx context.Context, jobID string, fn func([]store.Event)) error {
	key := Key(jobID)
	last, lastWake, err := f.lastIDs(ctx, key)
	if err != nil {
		f.healthy.Store(false)
	}
	go f.watch(ctx, key, last, lastWake, fn)
	if err != nil {
		return fmt.Errorf("events %s: watch %s: %w", f.url, jobID, err)
	}
	return nil
}

// watch reads key and wakeKey from after last and lastWake ("" for both:
// reconnect) until ctx ends.
func (f *Fanout) watch(ctx context.Context, key, last, lastWake string, fn func([]store.Event)) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		if last == "" {
			// (Re)connecting: find the end, then have subscribers read
			// the store for what was published meanwhile.
			id, wid, err := f.lastIDs(ctx, key)
			if err != nil {
				f.sleep(ctx, &delay, key, err)
				continue
			}
			last, lastWake = id, wid
			f.healthy.Store(true)
			fn(nil)
		}
		res, err := f.sub.XRead(ctx, &redis.XReadArgs{Streams: []string{key, wakeKey, last, lastWake}, Count: 1000, Block: block}).Result()
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
			if s.Stream == wakeKey { // every watcher is woken
				if n := len(s.Messages); n > 0 {
					lastWake = s.Messages[n-1].ID
					wake = true
				}
				continue
			}
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
