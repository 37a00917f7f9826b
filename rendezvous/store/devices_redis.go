package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kithnet/kith/shared/identity"
)

// Device records on Redis: one hash per person, "kith:d:" + the fingerprint's 32
// bytes, a field per device id whose value is timestamp_ms and expires_ms (int64
// big-endian, Redis server time) then the record (Record.Envelope). Redis 7.0 has no
// per-field TTL, so each field carries its own expiry, every write prunes expired
// fields, reads skip them, and the key lives as long as its longest-lived field.
const (
	devicesPrefix    = "kith:d:"
	deviceHeaderLen  = 16
	deviceScriptHead = luaNow
)

func devicesKey(fp identity.Fingerprint) string {
	return devicesPrefix + peerKey(fp)[len(layoutPrefix):]
}

// putDeviceScript stores ARGV[2] ts, ARGV[3] env for device ARGV[1] for ARGV[4] ms,
// unless that device's live record is at least as new (0) or ARGV[5] other devices
// are live (-1).
var putDeviceScript = redis.NewScript(deviceScriptHead + `
local all = redis.call('HGETALL', KEYS[1])
local live = 0
for i = 1, #all, 2 do
  local ts, exp = struct.unpack('>i8i8', all[i+1])
  if exp <= now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif all[i] == ARGV[1] then
    if ts >= tonumber(ARGV[2]) then return 0 end
  else
    live = live + 1
  end
end
if live >= tonumber(ARGV[5]) then return -1 end
local ttl = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], struct.pack('>i8i8', tonumber(ARGV[2]), now + ttl) .. ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`)

// devicesScript returns the live fields of KEYS[1] as id, value pairs.
const devicesScript = deviceScriptHead + `
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local ts, exp = struct.unpack('>i8i8', all[i+1])
  if exp > now then
    out[#out+1] = all[i]
    out[#out+1] = all[i+1]
  end
end
return out`

// deleteDeviceScript removes device ARGV[1]'s record if older than ARGV[2].
var deleteDeviceScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local ts = struct.unpack('>i8', v)
if ts < tonumber(ARGV[2]) then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`)

// PutDevice implements Store.
func (r *Redis) PutDevice(ctx context.Context, fp identity.Fingerprint, device []byte, rec Record, ttl time.Duration) error {
	n, err := putDeviceScript.Run(ctx, r.c, []string{devicesKey(fp)},
		device, rec.TimestampMs, rec.Envelope, ttl.Milliseconds(), MaxDevices).Int()
	if err != nil {
		return fmt.Errorf("redis put device %s: %w", fp, err)
	}
	if n == 0 {
		return ErrNotNewer
	}
	if n < 0 {
		return ErrTooManyDevices
	}
	return nil
}

// Devices implements Store: one pipeline (one round trip per Cluster node).
func (r *Redis) Devices(ctx context.Context, fps []identity.Fingerprint) ([][]DeviceRecord, error) {
	cmds := make([]*redis.Cmd, len(fps))
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, fp := range fps {
			// Eval, not EvalSha: a pipeline cannot fall back when the script is unknown.
			cmds[i] = p.Eval(ctx, devicesScript, []string{devicesKey(fp)})
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redis devices of %d people: %w", len(fps), err)
	}
	out := make([][]DeviceRecord, len(fps))
	for i, c := range cmds {
		vals, err := c.StringSlice()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("redis devices %s: %w", fps[i], err)
		}
		for j := 0; j+1 < len(vals); j += 2 {
			rec, err := parseDeviceValue(vals[j+1])
			if err != nil {
				return nil, fmt.Errorf("redis devices %s: %w", fps[i], err)
			}
			out[i] = append(out[i], DeviceRecord{Device: []byte(vals[j]), Record: rec})
		}
		sortDevices(out[i])
	}
	return out, nil
}

// DeleteDevice implements Store.
func (r *Redis) DeleteDevice(ctx context.Context, fp identity.Fingerprint, device []byte, beforeMs int64) error {
	if err := deleteDeviceScript.Run(ctx, r.c, []string{devicesKey(fp)}, device, beforeMs).Err(); err != nil {
		return fmt.Errorf("redis delete device %s: %w", fp, err)
	}
	return nil
}

// parseDeviceValue splits a device field's value into its record.
func parseDeviceValue(v string) (Record, error) {
	if len(v) < deviceHeaderLen {
		return Record{}, errCorrupt
	}
	return Record{Envelope: []byte(v[deviceHeaderLen:]), TimestampMs: int64(binary.BigEndian.Uint64([]byte(v[:8])))}, nil
}
