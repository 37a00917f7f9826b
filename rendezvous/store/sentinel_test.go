package store

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kithnet/kith/shared/redistest"
	"github.com/kithnet/kith/shared/testenv"
)

// startSentinel runs one Sentinel (redis-server --sentinel) watching master as
// "kithmaster", and returns its address.
func startSentinel(t *testing.T, master *redistest.Server) string {
	t.Helper()
	bin := testenv.Command(t, "redis-server", "redis-server")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	host, mport, _ := net.SplitHostPort(master.Addr())
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor kithmaster %s %s 1\nsentinel down-after-milliseconds kithmaster 1000\n",
		port, dir, host, mport)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--sentinel")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sentinel: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := redis.NewSentinelClient(&redis.Options{Addr: addr})
		_, err := c.GetMasterAddrByName(t.Context(), "kithmaster").Result()
		c.Close()
		if err == nil {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel on %s does not know kithmaster after 10s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedisSentinel runs the suite through a Sentinel URL (master_name=...).
func TestRedisSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := startSentinel(t, master)
	runSuite(t, func(t *testing.T) harness {
		r, err := Dial("redis://"+sentinel+"?master_name=kithmaster", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return harness{s: r, advance: time.Sleep}
	})
}
