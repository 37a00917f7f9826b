package server

import (
	"context"
	"time"

	"github.com/kithnet/kith/rendezvous/metrics"
	"github.com/kithnet/kith/rendezvous/store"
	"github.com/kithnet/kith/shared/identity"
)

// timed is a Store that reports each operation's latency.
type timed struct {
	s store.Store
	m *metrics.Metrics
}

func (t timed) since(op string, start time.Time) { t.m.StoreOp(op, time.Since(start)) }

func (t timed) Put(ctx context.Context, fp identity.Fingerprint, rec store.Record, ttl time.Duration) error {
	defer t.since("put", time.Now())
	return t.s.Put(ctx, fp, rec, ttl)
}

func (t timed) Get(ctx context.Context, fp identity.Fingerprint) (store.Record, error) {
	defer t.since("get", time.Now())
	return t.s.Get(ctx, fp)
}

func (t timed) GetMany(ctx context.Context, fps []identity.Fingerprint) ([]store.Record, error) {
	defer t.since("get_many", time.Now())
	return t.s.GetMany(ctx, fps)
}

func (t timed) Delete(ctx context.Context, fp identity.Fingerprint, beforeMs int64) error {
	defer t.since("delete", time.Now())
	return t.s.Delete(ctx, fp, beforeMs)
}

func (t timed) Publish(ctx context.Context, fp identity.Fingerprint, msg []byte) error {
	defer t.since("publish", time.Now())
	return t.s.Publish(ctx, fp, msg)
}

func (t timed) Subscribe(ctx context.Context, fp identity.Fingerprint) (store.Subscription, error) {
	defer t.since("subscribe", time.Now())
	return t.s.Subscribe(ctx, fp)
}

func (t timed) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	defer t.since("claim", time.Now())
	return t.s.Claim(ctx, key, ttl)
}

func (t timed) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, error) {
	defer t.since("allow", time.Now())
	return t.s.Allow(ctx, key, limit, window)
}

func (t timed) AllowN(ctx context.Context, key string, n, limit int, window time.Duration) (bool, error) {
	defer t.since("allow", time.Now())
	return t.s.AllowN(ctx, key, n, limit, window)
}

func (t timed) AllowKey(ctx context.Context, fp identity.Fingerprint, limit int, window time.Duration) (bool, error) {
	defer t.since("allow", time.Now())
	return t.s.AllowKey(ctx, fp, limit, window)
}

func (t timed) PutDevice(ctx context.Context, fp identity.Fingerprint, device []byte, rec store.Record, ttl time.Duration) error {
	defer t.since("put_device", time.Now())
	return t.s.PutDevice(ctx, fp, device, rec, ttl)
}

func (t timed) Devices(ctx context.Context, fps []identity.Fingerprint) ([][]store.DeviceRecord, error) {
	defer t.since("devices", time.Now())
	return t.s.Devices(ctx, fps)
}

func (t timed) DeleteDevice(ctx context.Context, fp identity.Fingerprint, device []byte, beforeMs int64) error {
	defer t.since("delete_device", time.Now())
	return t.s.DeleteDevice(ctx, fp, device, beforeMs)
}

func (t timed) Close() error { return t.s.Close() }
