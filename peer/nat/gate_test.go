package nat

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun"
)

// stunLog is a UDP socket that notes the STUN messages written to it and read from it:
// what went on the wire between a TURN client and its server.
type stunLog struct {
	*net.UDPConn
	mu   sync.Mutex
	sent []stun.Message // guards sent, got
	got  []stun.Message
}

func (l *stunLog) note(to *[]stun.Message, p []byte) {
	m := stun.Message{Raw: append([]byte(nil), p...)}
	if !stun.IsMessage(p) || m.Decode() != nil {
		return
	}
	l.mu.Lock()
	*to = append(*to, m)
	l.mu.Unlock()
}

func (l *stunLog) WriteTo(p []byte, addr net.Addr) (int, error) {
	l.note(&l.sent, p)
	return l.UDPConn.WriteTo(p, addr)
}

func (l *stunLog) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := l.UDPConn.ReadFrom(p)
	if err == nil {
		l.note(&l.got, p[:n])
	}
	return n, from, err
}

// allocates counts the Allocate requests sent, with and without MESSAGE-INTEGRITY, and
// reports whether a 401 (the realm and nonce) came back.
func (l *stunLog) allocates() (plain, authenticated int, challenged bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.sent {
		switch {
		case m.Type != allocateRequest:
		case m.Contains(stun.AttrMessageIntegrity):
			authenticated++
		default:
			plain++
		}
	}
	for _, m := range l.got {
		var code stun.ErrorCodeAttribute
		if m.Type == stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse) && code.GetFrom(&m) == nil && code.Code == stun.CodeUnauthorized {
			challenged = true
		}
	}
	return plain, authenticated, challenged
}

func newStunLog(t *testing.T) *stunLog {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &stunLog{UDPConn: conn}
}

// TestAllocateWaitsForTheGate: with a gate (real coturn), the unauthenticated Allocate
// and its 401 go at once; the authenticated Allocate waits for the gate, and once it
// opens the relay is one round trip away. A gate that never opens ends with ctx, having
// sent no authenticated Allocate.
func TestAllocateWaitsForTheGate(t *testing.T) {
	srv := startCoturn(t)
	user, pass := srv.credentials("fingerprintoftheallocatingpeer", time.Now().Add(time.Hour))

	t.Run("opens", func(t *testing.T) {
		conn := newStunLog(t)
		gate := make(chan struct{})
		cfg := srv.config(user, pass)
		cfg.Gate = gate
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		type result struct {
			r   *Relay
			err error
		}
		done := make(chan result, 1)
		go func() { r, err := AllocateTURN(ctx, conn, cfg); done <- result{r, err} }()
		deadline := time.Now().Add(3 * time.Second)
		for _, _, challenged := conn.allocates(); !challenged; _, _, challenged = conn.allocates() {
			if time.Now().After(deadline) {
				t.Fatal("no 401 to an unauthenticated Allocate while the gate was shut")
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // time for an authenticated Allocate that should not go
		select {
		case res := <-done:
			t.Fatalf("the allocation ended with the gate shut: %v", res.err)
		default:
		}
		if plain, authenticated, _ := conn.allocates(); plain != 1 || authenticated != 0 {
			t.Fatalf("with the gate shut: %d unauthenticated and %d authenticated Allocates sent, want 1 and 0", plain, authenticated)
		}
		close(gate)
		res := <-done
		if res.err != nil {
			t.Fatalf("allocation after the gate opened: %v", res.err)
		}
		defer res.r.Close()
		if plain, authenticated, _ := conn.allocates(); plain != 1 || authenticated != 1 {
			t.Errorf("%d unauthenticated and %d authenticated Allocates sent, want 1 of each", plain, authenticated)
		}
		// The gate holds nothing else back once open: the relay carries datagrams.
		peer := newStunLog(t)
		if err := res.r.Permit(peer.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatalf("permission after the gate opened: %v", err)
		}
	})

	t.Run("never opens", func(t *testing.T) {
		conn := newStunLog(t)
		cfg := srv.config(user, pass)
		cfg.Gate = make(chan struct{})
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		r, err := AllocateTURN(ctx, conn, cfg)
		if err == nil {
			r.Close()
			t.Fatal("allocated through a gate that never opened")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want the context's deadline", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("gave up %v after a 500ms deadline", took)
		}
		if _, authenticated, _ := conn.allocates(); authenticated != 0 {
			t.Errorf("%d authenticated Allocates sent through a shut gate", authenticated)
		}
	})
}

// TestAuthenticatedAllocate: only an Allocate request with MESSAGE-INTEGRITY waits at
// the gate; every other message, and anything that is not STUN, goes by.
func TestAuthenticatedAllocate(t *testing.T) {
	integrity := stun.NewLongTermIntegrity("1700000000:fp", "kith.test", "secret")
	creds := []stun.Setter{stun.NewUsername("1700000000:fp"), stun.NewRealm("kith.test"), stun.NewNonce("n0nce"), integrity}
	build := func(t stun.MessageType, withCreds bool) []byte {
		setters := []stun.Setter{stun.TransactionID, t}
		if withCreds {
			setters = append(setters, creds...)
		}
		return stun.MustBuild(append(setters, stun.Fingerprint)...).Raw
	}
	authAllocate := build(allocateRequest, true)
	for _, tc := range []struct {
		name string
		p    []byte
		want bool
	}{
		{"authenticated Allocate", authAllocate, true},
		{"unauthenticated Allocate", build(allocateRequest, false), false},
		{"authenticated Refresh", build(stun.NewType(stun.MethodRefresh, stun.ClassRequest), true), false},
		{"authenticated CreatePermission", build(stun.NewType(stun.MethodCreatePermission, stun.ClassRequest), true), false},
		{"Allocate success response", build(stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse), true), false},
		{"Binding request", build(stun.BindingRequest, false), false},
		{"truncated authenticated Allocate", authAllocate[:len(authAllocate)-12], false},
		{"punch packet", (&Packet{Kind: Ping}).Marshal(), false},
		{"empty", nil, false},
	} {
		if got := authenticatedAllocate(tc.p); got != tc.want {
			t.Errorf("%s: authenticatedAllocate = %v, want %v", tc.name, got, tc.want)
		}
	}
}
