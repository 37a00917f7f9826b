package rendezvous

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{in: "auto", want: MemoryLimitAuto},
		{in: "", want: MemoryLimitAuto},
		{in: "AUTO", want: MemoryLimitAuto},
		{in: "off", want: MemoryLimitOff},
		{in: "1800MiB", want: 1800 << 20},
		{in: "2GiB", want: 2 << 30},
		{in: "1TiB", want: 1 << 40},
		{in: "64KiB", want: 64 << 10},
		{in: "1000B", want: 1000},
		{in: "1500000000", want: 1_500_000_000},
		{in: "1", want: 1},
		{in: "0", err: true},
		{in: "-5MiB", err: true},
		{in: "2GB", err: true},
		{in: "MiB", err: true},
		{in: "1.5GiB", err: true},
		{in: "9000000TiB", err: true}, // overflows int64
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Helper()
			got, err := ParseMemoryLimit(tt.in)
			if tt.err {
				if !errors.Is(err, ErrMemoryLimit) {
					t.Fatalf("ParseMemoryLimit(%q) = %d, %v; want ErrMemoryLimit", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseMemoryLimit(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestChooseMemoryLimit(t *testing.T) {
	const gib = int64(1 << 30)
	tests := []struct {
		name       string
		flag       int64
		envSet     bool
		cgroup     int64
		wantLimit  int64
		wantSet    bool
		wantSource string
	}{
		{"flag wins over everything", 3 * gib, true, 10 * gib, 3 * gib, true, "--memory-limit"},
		{"off wins over GOMEMLIMIT and cgroup", MemoryLimitOff, true, 10 * gib, math.MaxInt64, true, "--memory-limit off"},
		{"auto keeps GOMEMLIMIT", MemoryLimitAuto, true, 10 * gib, 0, false, "GOMEMLIMIT"},
		{"auto takes 90% of the cgroup", MemoryLimitAuto, false, 10 * gib, 9 * gib, true, "cgroup memory limit × 0.9"},
		{"auto, cgroup v1 without a limit", MemoryLimitAuto, false, 9223372036854771712, math.MaxInt64, false, "none"},
		{"auto, no cgroup limit", MemoryLimitAuto, false, 0, math.MaxInt64, false, "none"},
		{"smallest flag", 1, false, 0, 1, true, "--memory-limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Helper()
			limit, set, source := chooseMemoryLimit(tt.flag, tt.envSet, tt.cgroup)
			if limit != tt.wantLimit || set != tt.wantSet || source != tt.wantSource {
				t.Fatalf("chooseMemoryLimit(%d, %v, %d) = %d, %v, %q; want %d, %v, %q",
					tt.flag, tt.envSet, tt.cgroup, limit, set, source, tt.wantLimit, tt.wantSet, tt.wantSource)
			}
		})
	}
}

func TestCgroupMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "missing")
	v2, v2max, v1 := write("v2", "2147483648\n"), write("v2max", "max\n"), write("v1", "1073741824\n")
	garbage := write("garbage", "lots\n")
	tests := []struct {
		name  string
		files []string
		want  int64
	}{
		{"v2 limit", []string{v2, v1}, 2 << 30},
		{"v2 without a limit stops the search", []string{v2max, v1}, 0},
		{"v1 when there is no v2", []string{missing, v1}, 1 << 30},
		{"unreadable value, next file", []string{garbage, v1}, 1 << 30},
		{"nothing", []string{missing}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Helper()
			if got := cgroupMemoryLimit(tt.files); got != tt.want {
				t.Fatalf("cgroupMemoryLimit = %d, want %d", got, tt.want)
			}
		})
	}
}
