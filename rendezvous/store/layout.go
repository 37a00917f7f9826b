package store

import (
	"encoding/base32"
	"encoding/binary"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/kithnet/kith/shared/identity"
)

// The Redis layout, v2 (kith:r:): one string key per peer holds its record and its
// per-key rate counter, so a registered peer costs one key (378 bytes of used_memory
// at 100k peers with the server's stored form v3, docs/DESIGN.md "Redis bytes per
// peer") where v1 used a hash, which an envelope longer than hash-max-listpack-value
// turned into a hashtable, and a second key for the counter (760 bytes together).
//
//	key   "kith:r:" + the 32 bytes of the fingerprint (52 characters of base32 for
//	      anything that is not a fingerprint, as in tests)
//	value header: timestamp_ms int64, window_end_ms int64, count uint32 (big-endian),
//	      then the record (Record.Envelope, opaque here). timestamp_ms -1: no record,
//	      only a live counter.
//
// Every operation touches one key, so no hash tag is needed for a Cluster. The key's
// TTL is the record's; a counter alone lives for its window. A record that expires
// or is unregistered before its counter's window ends takes the counter with it
// (unregistering keeps it): a key gets at most twice its budget in a window.
const (
	layoutPrefix = "kith:r:"
	headerLen    = 20
	noRecord     = -1
)

var fpEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// peerKey is fp's key: its raw 32 bytes when fp is a fingerprint.
func peerKey(fp identity.Fingerprint) string {
	if len(fp) == 52 {
		if raw, err := fpEncoding.DecodeString(string(fp)); err == nil && len(raw) == 32 {
			return layoutPrefix + string(raw)
		}
	}
	return layoutPrefix + string(fp)
}

func offersKey(fp identity.Fingerprint) string { return "kith:rdv:{" + string(fp) + "}:offers" }
func claimKey(k string) string                 { return "kith:rdv:{" + k + "}:claim" }
func rateKey(k string) string                  { return "kith:rdv:{" + k + "}:rate" }

// errCorrupt means a stored value is shorter than its header.
var errCorrupt = errors.New("stored value is shorter than its header: not written by this version")

// parseValue splits a stored value into its record; ErrNotFound when it holds only a
// counter.
func parseValue(v string) (Record, error) {
	if len(v) < headerLen {
		return Record{}, errCorrupt
	}
	ts := int64(binary.BigEndian.Uint64([]byte(v[:8])))
	if ts == noRecord {
		return Record{}, ErrNotFound
	}
	return Record{Envelope: []byte(v[headerLen:]), TimestampMs: ts}, nil
}

// header is struct.pack('>i8i8I4', ts, window_end, count) in the scripts.
const luaNow = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// putScript stores (ARGV[1] ts, ARGV[2] env) for ARGV[3] ms unless the stored record is
// at least as new; the counter carries over.
var putScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
local w, n = 0, 0
if v then
  local cur
  cur, w, n = struct.unpack('>i8i8I4', v)
  if cur >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], struct.pack('>i8i8I4', tonumber(ARGV[1]), w, n) .. ARGV[2], 'PX', ARGV[3])
return 1`)

// deleteScript removes the record if it is older than ARGV[1]; a live counter stays.
var deleteScript = redis.NewScript(luaNow + `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local cur, w, n = struct.unpack('>i8i8I4', v)
if cur < 0 or cur >= tonumber(ARGV[1]) then return 0 end
if w > now then
  redis.call('SET', KEYS[1], struct.pack('>i8i8I4', -1, w, n), 'PX', w - now)
else
  redis.call('DEL', KEYS[1])
end
return 0`)

// allowKeyScript counts ARGV[2] events of a key in a fixed window of ARGV[1] ms, in
// the header of its value; it returns the window's count.
var allowKeyScript = redis.NewScript(luaNow + `
local win, add = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], struct.pack('>i8i8I4', -1, now + win, add), 'PX', win)
  return add
end
local cur, w, n = struct.unpack('>i8i8I4', v)
if w <= now then
  w, n = now + win, 0
  if cur < 0 then redis.call('PEXPIRE', KEYS[1], win) end
end
n = n + add
redis.call('SETRANGE', KEYS[1], 8, struct.pack('>i8I4', w, n))
return n`)

// allowScript counts ARGV[2] events in a fixed window of ARGV[1] ms.
var allowScript = redis.NewScript(`
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
if n == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)
