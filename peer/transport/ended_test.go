package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/identity"
)

// TestConnectionEndLogged: when a connection ends, each end logs "connection ended"
// with the other end's ID, the path, which end dialled, and what the connection
// carried (the round trip, packets sent and lost, bytes each way).
func TestConnectionEndLogged(t *testing.T) {
	ks, kc := key(t), key(t)
	var slog1, slog2 syncBuf
	server := loggedTransport(t, ks, &slog1, func(k identity.PublicKey) bool { return k == kc.Public() })
	client := loggedTransport(t, kc, &slog2, nil)
	out, got := dialLogged(t, server, client, ks.Public())
	const size = 200 << 10
	go func() { _, _ = out.Write(make([]byte, size)) }()
	in := <-got
	if in == nil {
		t.Fatal("no inbound connection")
	}
	if _, err := io.ReadFull(in, make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	out.Close()
	for _, c := range []struct {
		name    string
		log     *syncBuf
		peer    string
		inbound bool
		bytes   string // the counter that carried the 200 KiB
	}{{"server", &slog1, string(kc.Public().ID()), true, "received_bytes"}, {"client", &slog2, string(ks.Public().ID()), false, "sent_bytes"}} {
		rec := waitEnded(c.log)
		if rec == nil {
			t.Fatalf("%s: no 'connection ended' line in:\n%s", c.name, c.log.String())
		}
		if rec["peer"] != c.peer || rec["path"] != Direct || rec["inbound"] != c.inbound || rec["remote"] == "" || rec["level"] != "INFO" {
			t.Errorf("%s: %v: want peer %s, path %s, inbound %v, a remote, at INFO (a friend)", c.name, rec, c.peer, Direct, c.inbound)
		}
		if n, _ := rec[c.bytes].(float64); n < size {
			t.Errorf("%s: %s = %v, want at least %d", c.name, c.bytes, rec[c.bytes], size)
		}
		if r, _ := rec["rtt_ms"].(float64); r <= 0 {
			t.Errorf("%s: rtt_ms = %v, want a round trip", c.name, rec["rtt_ms"])
		}
		if n, _ := rec["sent_packets"].(float64); n < 1 {
			t.Errorf("%s: sent_packets = %v", c.name, rec["sent_packets"])
		}
		if _, ok := rec["lost_packets"].(float64); !ok {
			t.Errorf("%s: no lost_packets in %v", c.name, rec)
		}
	}
}

// TestStrangerEndAtDebug: a stranger's connection ends at debug level, a friend's at
// info: strangers choose how many connections they make, not how much the log says.
func TestStrangerEndAtDebug(t *testing.T) {
	ks, kc := key(t), key(t)
	var log, quiet syncBuf
	server := loggedTransport(t, ks, &log, func(identity.PublicKey) bool { return false })
	client := loggedTransport(t, kc, &quiet, nil)
	out, got := dialLogged(t, server, client, ks.Public())
	if _, err := out.Write([]byte("h")); err != nil {
		t.Fatal(err)
	}
	if <-got == nil {
		t.Fatal("no inbound connection")
	}
	out.Close()
	if rec := waitEnded(&log); rec == nil || rec["level"] != "DEBUG" {
		t.Fatalf("a stranger's connection ended with %v, want one line at DEBUG:\n%s", rec, log.String())
	}
}

// dialLogged has client dial server (whose key is want) and returns the dialled
// connection and the channel its inbound side arrives on.
func dialLogged(t *testing.T, server, client *Transport, want identity.PublicKey) (*Conn, chan *Conn) {
	t.Helper()
	ln, err := server.Listen()
	if err != nil {
		t.Fatal(err)
	}
	got := accept(t, ln)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := client.Dial(ctx, server.Addr(), want)
	if err != nil {
		t.Fatal(err)
	}
	return out, got
}

// waitEnded waits up to 10 s for a "connection ended" record in log; nil if none came.
func waitEnded(log *syncBuf) map[string]any {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if rec := ended(log.String()); rec != nil {
			return rec
		}
	}
	return nil
}

// ended is the first "connection ended" record in the JSON log s, or nil.
func ended(s string) map[string]any {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == "connection ended" {
			return rec
		}
	}
	return nil
}

// loggedTransport is a transport for k on loopback logging JSON to log, at every
// level, that counts the keys friend says are friends as friends.
func loggedTransport(t *testing.T, k *identity.Key, log *syncBuf, friend func(identity.PublicKey) bool) *Transport {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	tr, err := New(Config{Key: k, PacketConn: pc, Logger: slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Limits: Limits{Friend: friend}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// TestQlogDir: with QLOGDIR set, each end of a connection writes a qlog trace of it
// there (what an engineer reads to see a slow transfer's congestion window, losses and
// round trips).
func TestQlogDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("QLOGDIR", dir)
	c := connect(t)
	c.out.Close()
	deadline := time.Now().Add(5 * time.Second)
	var names []string
	for time.Now().Before(deadline) {
		names, _ = filepath.Glob(filepath.Join(dir, "*.sqlog"))
		if len(names) == 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(names) != 2 {
		t.Fatalf("QLOGDIR holds %q, want a trace of each end", names)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil || !strings.Contains(string(b), "quic-go qlog") {
			t.Errorf("%s: %v, not a qlog trace: %.200q", n, err, b)
		}
	}
}

// TestMillis: a round trip is logged in milliseconds, to a tenth.
func TestMillis(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want float64
	}{{0, 0}, {1234567 * time.Nanosecond, 1.2}, {40*time.Millisecond + 560*time.Microsecond, 40.6}, {2 * time.Second, 2000}} {
		if got := ms(c.d); got != c.want {
			t.Errorf("ms(%v) = %v, want %v", c.d, got, c.want)
		}
	}
}
