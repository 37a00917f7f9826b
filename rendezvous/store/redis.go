package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kithnet/kith/shared/identity"
)

// Redis is the Store that any number of rendezvous instances share. Every key carries
// a hash tag, so each operation touches one slot of a Cluster, and offers travel by
// sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7), which also works on a single node.
type Redis struct {
	c   redis.UniversalClient
	hub *hub
}

// NewRedis returns a Store on c; Close closes c.
func NewRedis(c redis.UniversalClient) *Redis { return &Redis{c: c, hub: newHub(c)} }

// Client returns the underlying client, for health checks and benchmarks.
func (r *Redis) Client() redis.UniversalClient { return r.c }

// Dial connects to Redis: cluster lists Cluster node addresses (host:port); otherwise
// url is redis:// or rediss://, a Sentinel deployment when it has master_name=...
// Unset timeouts default to one second so an outage is reported quickly.
func Dial(url string, cluster []string) (*Redis, error) {
	var c redis.UniversalClient
	switch {
	case len(cluster) > 0:
		o := &redis.ClusterOptions{Addrs: cluster}
		if url != "" {
			so, err := redis.ParseURL(url)
			if err != nil {
				return nil, fmt.Errorf("redis URL: %w", err)
			}
			o.Username, o.Password, o.TLSConfig = so.Username, so.Password, so.TLSConfig
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = time.Second, time.Second, time.Second
		// go-redis reloads the slot map on MOVED, which a dead master never sends: by
		// default a failover would reach us only after a minute. CLUSTER SLOTS once a
		// second (only while there is traffic) follows a promoted replica within ~1 s.
		o.ClusterStateReloadInterval = time.Second
		c = redis.NewClusterClient(o)
	case strings.Contains(url, "master_name="):
		o, err := redis.ParseFailoverURL(url)
		if err != nil {
			return nil, fmt.Errorf("redis sentinel URL: %w", err)
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = orSecond(o.DialTimeout), orSecond(o.ReadTimeout), orSecond(o.WriteTimeout)
		c = redis.NewFailoverClient(o)
	default:
		o, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("redis URL: %w", err)
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = orSecond(o.DialTimeout), orSecond(o.ReadTimeout), orSecond(o.WriteTimeout)
		o.MaxRetries = 1
		c = redis.NewClient(o)
	}
	return NewRedis(c), nil
}

func orSecond(d time.Duration) time.Duration {
	if d == 0 {
		return time.Second
	}
	return d
}

func recordKey(fp identity.Fingerprint) string { return "kith:rdv:{" + string(fp) + "}:rec" }
func offersKey(fp identity.Fingerprint) string { return "kith:rdv:{" + string(fp) + "}:offers" }
func claimKey(k string) string                 { return "kith:rdv:{" + k + "}:claim" }
func rateKey(k string) string                  { return "kith:rdv:{" + k + "}:rate" }

// putScript stores (ts, env) unless the stored ts is at least as new.
var putScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 't')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 't', ARGV[1], 'e', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)

// deleteScript deletes the record if it is older than ARGV[1].
var deleteScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 't')
if cur and tonumber(cur) < tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) end
return 0`)

// allowScript counts ARGV[2] events in a fixed window of ARGV[1] ms.
var allowScript = redis.NewScript(`
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
if n == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// Put implements Store.
func (r *Redis) Put(ctx context.Context, fp identity.Fingerprint, rec Record, ttl time.Duration) error {
	n, err := putScript.Run(ctx, r.c, []string{recordKey(fp)}, rec.TimestampMs, rec.Envelope, ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("redis put %s: %w", fp, err)
	}
	if n == 0 {
		return ErrNotNewer
	}
	return nil
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, fp identity.Fingerprint) (Record, error) {
	v, err := r.c.HMGet(ctx, recordKey(fp), "t", "e").Result()
	if err != nil {
		return Record{}, fmt.Errorf("redis get %s: %w", fp, err)
	}
	rec, err := parseRecord(v)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Record{}, fmt.Errorf("redis get %s: %w", fp, err)
	}
	return rec, err
}

// parseRecord reads HMGET t e.
func parseRecord(v []any) (Record, error) {
	if len(v) != 2 {
		return Record{}, ErrNotFound
	}
	ts, ok1 := v[0].(string)
	env, ok2 := v[1].(string)
	if !ok1 || !ok2 {
		return Record{}, ErrNotFound
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("stored timestamp %q: %w", ts, err)
	}
	return Record{Envelope: []byte(env), TimestampMs: t}, nil
}

// GetMany implements Store: one pipeline, which a Cluster client splits into one round
// trip per node, sent in parallel.
func (r *Redis) GetMany(ctx context.Context, fps []identity.Fingerprint) ([]Record, error) {
	cmds := make([]*redis.SliceCmd, len(fps))
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, fp := range fps {
			cmds[i] = p.HMGet(ctx, recordKey(fp), "t", "e")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis get %d records: %w", len(fps), err)
	}
	out := make([]Record, len(fps))
	for i, c := range cmds {
		rec, err := parseRecord(c.Val())
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("redis get %s: %w", fps[i], err)
		}
		out[i] = rec
	}
	return out, nil
}

// Delete implements Store.
func (r *Redis) Delete(ctx context.Context, fp identity.Fingerprint, beforeMs int64) error {
	if err := deleteScript.Run(ctx, r.c, []string{recordKey(fp)}, beforeMs).Err(); err != nil {
		return fmt.Errorf("redis delete %s: %w", fp, err)
	}
	return nil
}

// Claim implements Store.
func (r *Redis) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ok, err := r.c.SetNX(ctx, claimKey(key), 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redis claim: %w", err)
	}
	return ok, nil
}

// Allow implements Store.
func (r *Redis) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, error) {
	return r.AllowN(ctx, key, 1, limit, window)
}

// AllowN implements Store.
func (r *Redis) AllowN(ctx context.Context, key string, n, limit int, window time.Duration) (bool, error) {
	count, err := allowScript.Run(ctx, r.c, []string{rateKey(key)}, window.Milliseconds(), n).Int()
	if err != nil {
		return false, fmt.Errorf("redis rate limit: %w", err)
	}
	return count <= limit, nil
}

// Publish implements Store.
func (r *Redis) Publish(ctx context.Context, fp identity.Fingerprint, msg []byte) error {
	n, err := r.c.SPublish(ctx, offersKey(fp), msg).Result()
	if err != nil {
		return fmt.Errorf("redis publish %s: %w", fp, err)
	}
	if n == 0 {
		return ErrNoListener
	}
	return nil
}

// Subscribe implements Store. It returns once Redis has confirmed the subscription, so a
// Publish that follows is delivered. Every subscription of this store shares one
// connection per Redis node (hub).
func (r *Redis) Subscribe(ctx context.Context, fp identity.Fingerprint) (Subscription, error) {
	s := &redisSub{h: r.hub, channel: offersKey(fp), ch: make(chan []byte, subQueue)}
	if err := r.hub.subscribe(ctx, s.channel, s); err != nil {
		return nil, fmt.Errorf("redis subscribe %s: %w", fp, err)
	}
	s.stopCtx = context.AfterFunc(ctx, func() { r.hub.leave(s) })
	return s, nil
}

// Dropped counts the messages refused because a subscriber's queue was full.
func (r *Redis) Dropped() uint64 { return r.hub.dropped.Load() }

// Ping checks that Redis answers, for health checks.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Close implements Store.
func (r *Redis) Close() error {
	r.hub.close()
	if err := r.c.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return err
	}
	return nil
}
