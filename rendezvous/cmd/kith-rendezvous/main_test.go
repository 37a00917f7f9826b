package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
)

// grpcurlVersion pins the grpcurl the test runs through `go run`, so it works on a fresh
// machine with nothing but Go and the module proxy.
const grpcurlVersion = "v1.9.4"

func TestEnvNames(t *testing.T) {
	for flagName, want := range map[string]string{
		"listen": "KITH_RENDEZVOUS_LISTEN", "turn-secret": "KITH_RENDEZVOUS_TURN_SECRET",
		"redis-cluster": "KITH_RENDEZVOUS_REDIS_CLUSTER", "turn-allow-private": "KITH_RENDEZVOUS_TURN_ALLOW_PRIVATE",
	} {
		if got := envName(flagName); got != want {
			t.Errorf("envName(%q) = %q, want %q", flagName, got, want)
		}
	}
}

func TestFlagBeatsEnv(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	listen := fs.String("listen", ":7000", "")
	secret := fs.String("turn-secret", "", "")
	allow := fs.Bool("turn-allow-private", false, "")
	if err := fs.Parse([]string{"--listen", ":1"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KITH_RENDEZVOUS_LISTEN": ":2", "KITH_RENDEZVOUS_TURN_SECRET": "s", "KITH_RENDEZVOUS_TURN_ALLOW_PRIVATE": "true"}
	if err := fromEnv(fs, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if *listen != ":1" || *secret != "s" || !*allow {
		t.Fatalf("listen=%q secret=%q allow=%v; want the flag to win and the environment to fill the rest", *listen, *secret, *allow)
	}
	env["KITH_RENDEZVOUS_TURN_ALLOW_PRIVATE"] = "maybe"
	fs2 := flag.NewFlagSet("y", flag.ContinueOnError)
	fs2.Bool("turn-allow-private", false, "")
	if err := fromEnv(fs2, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "KITH_RENDEZVOUS_TURN_ALLOW_PRIVATE") {
		t.Fatalf("bad boolean in the environment: got %v, want an error naming the variable", err)
	}
}

func TestUsageErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--no-such-flag"}, func(string) string { return "" }, &out, &errb); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"-h"}, func(string) string { return "" }, &out, &errb); code != 0 || !strings.Contains(out.String(), "--turn-allow-private") && !strings.Contains(out.String(), "-turn-allow-private") {
		t.Errorf("-h: exit %d, output %q", code, out.String())
	}
	if !strings.Contains(out.String(), "-memory-limit") {
		t.Errorf("-h does not name --memory-limit: %q", out.String())
	}
	for _, bad := range []string{"2GB", "0", "lots"} {
		errb.Reset()
		if code := run(context.Background(), []string{"--memory-limit", bad}, func(string) string { return "" }, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--memory-limit") {
			t.Errorf("--memory-limit %s: exit %d, stderr %q; want 2 and a message naming the flag", bad, code, errb.String())
		}
	}
}

func freeTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// goCmd runs the go command (tests run under it, so it is on PATH or in GOROOT).
func goCmd(t *testing.T, ctx context.Context, args ...string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	return exec.CommandContext(ctx, bin, args...)
}

// TestBinary runs the real kith-rendezvous, configured through flags and environment,
// talks to it with grpcurl (health, reflection), reads /metrics, and stops it with SIGTERM
// while a Listen stream is open.
func TestBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "kith-rendezvous")
	if out, err := goCmd(t, ctx, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	grpcAddr, metricsAddr := freeTCP(t), freeTCP(t)
	cmd := exec.Command(bin, "--stun", "127.0.0.1:0", "--metrics", metricsAddr)
	cmd.Env = append(os.Environ(), "KITH_RENDEZVOUS_LISTEN="+grpcAddr, "KITH_RENDEZVOUS_TURN_SECRET=s3cret",
		"KITH_RENDEZVOUS_MEMORY_LIMIT=1500MiB",      // the runtime's limit, which /metrics shows
		"KITH_RENDEZVOUS_NAME="+rendezvoustest.Name) // the name its proofs are signed for
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	c := rendezvoustest.Dial(t, grpcAddr)
	k := rendezvoustest.NewKey(t)
	waitRegister(t, c, k)

	t.Run("grpcurl", func(t *testing.T) {
		grpcurl := func(args ...string) string {
			out, err := goCmd(t, ctx, append([]string{"run", "github.com/fullstorydev/grpcurl/cmd/grpcurl@" + grpcurlVersion}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("grpcurl %v: %v\n%s", args, err, out)
			}
			return string(out)
		}
		if out := grpcurl("-plaintext", grpcAddr, "grpc.health.v1.Health/Check"); !strings.Contains(out, `"SERVING"`) {
			t.Errorf("health check: %s, want SERVING", out)
		}
		out := grpcurl("-plaintext", grpcAddr, "list")
		for _, svc := range []string{"kith.rendezvous.v1.RendezvousService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
			if !strings.Contains(out, svc) {
				t.Errorf("reflection list lacks %s:\n%s", svc, out)
			}
		}
		if out := grpcurl("-plaintext", grpcAddr, "describe", "kith.rendezvous.v1.RendezvousService"); !strings.Contains(out, "rpc Connect") {
			t.Errorf("describe: %s", out)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		c.Lookup(ctx, &rendezvousv1.LookupRequest{Fingerprint: "bad"})
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, series := range []string{
			"kith_rendezvous_registrations_total 1", `kith_rendezvous_refusals_total{reason="malformed_fingerprint"} 1`,
			"kith_rendezvous_store_latency_seconds_bucket", "kith_rendezvous_turn_allocations_active 0",
			"go_gc_gomemlimit_bytes 1.572864e+09", "go_gc_heap_live_bytes ", "go_memory_classes_heap_stacks_bytes ",
		} {
			if !strings.Contains(string(body), series) {
				t.Errorf("/metrics lacks %q", series)
			}
		}
	})

	t.Run("SIGTERM drains", func(t *testing.T) {
		lctx, lcancel := context.WithCancel(ctx)
		defer lcancel()
		st, err := c.Listen(lctx, &rendezvousv1.ListenRequest{Auth: rendezvoustest.Auth(t, k, identity.ContextListen, time.Now())})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatalf("listen: %v", err)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		for {
			if _, err = st.Recv(); err != nil {
				break
			}
		}
		if s, _ := status.FromError(err); s.Code() != codes.Unavailable {
			t.Errorf("Listen ended with %v, want Unavailable (shutting down)", err)
		}
		select {
		case err := <-exited:
			exited <- err
			if err != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("still running 15s after SIGTERM\n%s", logs.String())
		}
	})
}

func waitRegister(t *testing.T, c rendezvousv1.RendezvousServiceClient, k *identity.Key) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Register(ctx, &rendezvousv1.RegisterRequest{Record: rendezvoustest.Registration(t, k, time.Now(), time.Minute, "192.0.2.1:1")})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kith-rendezvous did not answer in 15s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
