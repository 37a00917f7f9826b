package store

import (
	"context"
	"errors"
	"fmt"
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
	if len(cluster) > 0 {
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
	} else if strings.Contains(url, "master_name=") {
		o, err := redis.ParseFailoverURL(url)
		if err != nil {
			return nil, fmt.Errorf("redis sentinel URL: %w", err)
		}
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = orSecond(o.DialTimeout), orSecond(o.ReadTimeout), orSecond(o.WriteTimeout)
		c = redis.NewFailoverClient(o)
	} else {
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

// Put implements Store.
func (r *Redis) Put(ctx context.Context, fp identity.Fingerprint, rec Record, ttl time.Duration) error {
	n, err := putScript.Run(ctx, r.c, []string{peerKey(fp)}, rec.TimestampMs, rec.Envelope, ttl.Milliseconds()).Int()
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
	v, err := r.c.Get(ctx, peerKey(fp)).Result()
	if errors.Is(err, redis.Nil) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, fmt.Errorf("redis get %s: %w", fp, err)
	}
	rec, err := parseValue(v)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Record{}, fmt.Errorf("redis get %s: %w", fp, err)
	}
	return rec, err
}

// GetMany implements Store: one pipeline, which a Cluster client splits into one round
// trip per node, sent in parallel.
func (r *Redis) GetMany(ctx context.Context, fps []identity.Fingerprint) ([]Record, error) {
	cmds := make([]*redis.StringCmd, len(fps))
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, fp := range fps {
			cmds[i] = p.Get(ctx, peerKey(fp))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redis get %d records: %w", len(fps), err)
	}
	out := make([]Record, len(fps))
	for i, c := range cmds {
		v, err := c.Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("redis get %s: %w", fps[i], err)
		}
		rec, err := parseValue(v)
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
	if err := deleteScript.Run(ctx, r.c, []string{peerKey(fp)}, beforeMs).Err(); err != nil {
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

// AllowKey implements Store: the counter lives in the header of the key's record.
func (r *Redis) AllowKey(ctx context.Context, fp identity.Fingerprint, limit int, window time.Duration) (bool, error) {
	count, err := allowKeyScript.Run(ctx, r.c, []string{peerKey(fp)}, window.Milliseconds(), 1).Int()
	if err != nil {
		return false, fmt.Errorf("redis rate limit %s: %w", fp, err)
	}
	return count <= limit, nil
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
