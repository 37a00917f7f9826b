package rendezvous

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// Memory limit (issue 14). With the default GOGC=100 the Go heap grows to about twice
// what is live before a collection, so an instance holding many idle Listen streams,
// whose live memory hardly changes, drifts towards twice the RSS it needs. A soft limit
// (runtime/debug.SetMemoryLimit) makes the collector work harder only near the limit:
// far from it nothing changes, near it RSS stays at the limit instead of at 2 × live.

// ErrMemoryLimit reports a --memory-limit the command cannot read.
var ErrMemoryLimit = errors.New(`want "auto", "off", or a size such as 1800MiB, 2GiB or 1500000000 (bytes)`)

// Memory limit sentinels of Config.MemoryLimit.
const (
	// MemoryLimitAuto keeps GOMEMLIMIT when the environment sets it, and otherwise
	// takes cgroupShare of the container's memory limit, or none outside a limit.
	MemoryLimitAuto int64 = 0
	// MemoryLimitOff sets no limit, whatever GOMEMLIMIT or the cgroup say.
	MemoryLimitOff int64 = -1
)

// cgroupShare is the part of a cgroup's memory limit that "auto" gives the Go runtime;
// the rest is headroom for what the runtime does not count (C, the kernel's socket
// buffers are outside RSS anyway) and for the collector to react before the OOM killer.
const cgroupShare = 0.9

// cgroupFiles are where a container sees its own memory limit: cgroup v2, then v1.
var cgroupFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// ParseMemoryLimit reads a --memory-limit value: "auto" (MemoryLimitAuto), "off"
// (MemoryLimitOff), or a positive size in bytes with an optional unit B, KiB, MiB, GiB or
// TiB, as GOMEMLIMIT is written.
func ParseMemoryLimit(s string) (int64, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "auto", "":
		return MemoryLimitAuto, nil
	case "off":
		return MemoryLimitOff, nil
	}
	num, unit := s, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, unit = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("--memory-limit %q: %w", s, ErrMemoryLimit)
	}
	return n * unit, nil
}

// chooseMemoryLimit decides the limit to set: flag is Config.MemoryLimit, envSet whether
// GOMEMLIMIT is in the environment (the runtime applied it already), cgroup the
// container's limit in bytes (0 or less: none). set is false when the runtime's own
// setting stays; limit math.MaxInt64 means no limit.
func chooseMemoryLimit(flag int64, envSet bool, cgroup int64) (limit int64, set bool, source string) {
	switch {
	case flag > 0:
		return flag, true, "--memory-limit"
	case flag < 0:
		return math.MaxInt64, true, "--memory-limit off"
	case envSet:
		return 0, false, "GOMEMLIMIT"
	case cgroup > 0 && cgroup < 1<<62: // v1 says "no limit" with a number near 2^63
		return int64(float64(cgroup) * cgroupShare), true, "cgroup memory limit × 0.9"
	}
	return math.MaxInt64, false, "none"
}

// cgroupMemoryLimit returns the memory limit of the cgroup this process sees as its
// own, 0 when there is none or it cannot be read.
func cgroupMemoryLimit(files []string) int64 {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return 0
}
