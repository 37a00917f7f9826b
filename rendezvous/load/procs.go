package load

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// process is a child process: redis-server or kith-rendezvous.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	// metrics is the host:port of its /metrics (kith-rendezvous only; "" for Redis).
	metrics string
}

// spawn starts bin with args, its output in dir/name.log.
func spawn(dir, name, bin string, args ...string) (*process, error) {
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); log.Close(); close(p.done) }()
	return p, nil
}

// stop asks the process to end (SIGTERM), kills it after 5 s, and waits for it.
func (p *process) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// usage is what the kernel says a process has used so far.
type usage struct {
	cpu time.Duration // user + system
	rss int64         // resident set, bytes
}

// stats reads the process's CPU time and RSS from /proc.
func (p *process) stats() (usage, error) {
	pid := p.cmd.Process.Pid
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return usage{}, err
	}
	var rssKB int64
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rssKB, _ = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return usage{cpu: time.Duration(utime+stime) * time.Second / ticks, rss: rssKB << 10}, nil
}

// freeAddr returns a loopback host:port free for TCP and UDP right now.
func freeAddr() (string, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := l.Addr().String()
		l.Close()
		if u, err := net.ListenPacket("udp", addr); err == nil {
			u.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("no free loopback port for TCP and UDP")
}

// startRedis runs redis-server on loopback, without persistence, with room for a
// subscription connection per Listen stream, and returns it with a client.
func startRedis(ctx context.Context, bin, dir string) (*process, *redis.Client, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	p, err := spawn(dir, "redis", bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--maxclients", "60000")
	if err != nil {
		return nil, nil, err
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	if err := waitFor(ctx, func() bool { return c.Ping(ctx).Err() == nil }); err != nil {
		p.stop()
		return nil, nil, fmt.Errorf("redis-server on %s: %w", addr, err)
	}
	return p, c, nil
}

// startRendezvous runs kith-rendezvous on loopback ports of its own on the Redis at
// redisAddr, without the per-IP limit (every simulated peer shares 127.0.0.1), and
// returns it once its gRPC health says SERVING.
func startRendezvous(ctx context.Context, bin, dir, name, redisAddr string) (*process, string, error) {
	grpcAddr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	stunAddr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := spawn(dir, name, bin, "--listen", grpcAddr, "--stun", stunAddr, "--redis", "redis://"+redisAddr,
		"--rate-limit-ip", "-1", "--max-listen-per-ip", "-1", "--log-level", "warn", "--name", serverName,
		"--metrics", metricsAddr)
	if err != nil {
		return nil, "", err
	}
	p.metrics = metricsAddr
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		p.stop()
		return nil, "", err
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	serving := func() bool {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	}
	if err := waitFor(ctx, serving); err != nil {
		p.stop()
		return nil, "", fmt.Errorf("%s on %s: %w (log: %s)", name, grpcAddr, err, filepath.Join(dir, name+".log"))
	}
	return p, grpcAddr, nil
}

// waitFor polls cond for up to 10 s.
func waitFor(ctx context.Context, cond func() bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after 10s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// redisInfo returns the integer fields of INFO that the report uses.
func redisInfo(ctx context.Context, c *redis.Client) (map[string]int64, error) {
	info, err := c.Info(ctx, "memory", "clients", "keyspace").Result()
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[k] = n
		}
	}
	out["dbsize"], _ = c.DBSize(ctx).Result()
	return out, nil
}
