package transport

import (
	"net"
	"net/netip"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/kithnet/kith/shared/identity"
)

// Limits bound the inbound connections a Transport keeps (issue 13 item 12). A key costs
// nothing to make, so strangers are bounded per key, per source address and in total;
// friends, whose keys the person chose, get more room per key and are not counted
// against the addresses strangers share with them.
type Limits struct {
	// Friend tells whether a key is a friend; nil treats every key as a stranger.
	Friend func(identity.PublicKey) bool
	// FriendConnsPerKey bounds live inbound connections of one friend; 8 when zero.
	FriendConnsPerKey int
	// StrangerConnsPerKey bounds live inbound connections of one stranger key; 2 when zero.
	StrangerConnsPerKey int
	// StrangerConnsPerIP bounds live inbound stranger connections from one source
	// address, whatever their keys; 8 when zero.
	StrangerConnsPerIP int
	// StrangerConns bounds live inbound stranger connections in all; 64 when zero.
	StrangerConns int
}

func (l Limits) withDefaults() Limits {
	if l.FriendConnsPerKey <= 0 {
		l.FriendConnsPerKey = 8
	}
	if l.StrangerConnsPerKey <= 0 {
		l.StrangerConnsPerKey = 2
	}
	if l.StrangerConnsPerIP <= 0 {
		l.StrangerConnsPerIP = 8
	}
	if l.StrangerConns <= 0 {
		l.StrangerConns = 64
	}
	return l
}

// closeTooMany is the QUIC application error a refused connection is closed with.
const closeTooMany = 0x4b01

// closeUnexpected closes a dial-back that cannot go on: on the listener's side, nobody
// waits for it; on the dialler's, the listener opened no stream with the mark.
const closeUnexpected = 0x4b02

// trackInbound records an inbound connection from k when it fits the limits, counting
// the live inbound connections; nil when it does not.
func (t *Transport) trackInbound(qc *quic.Conn, st *quic.Stream, k identity.PublicKey) *Conn {
	friend := t.limits.Friend != nil && t.limits.Friend(k) // a store read: not under t.mu
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.admitLocked(k, friend, qc.RemoteAddr()) {
		return nil
	}
	c := &Conn{qc: qc, st: st, peer: k, path: t.cfg.Path, inbound: true, stranger: !friend, t: t}
	t.conns[c] = struct{}{}
	go t.logEnd(c, time.Now())
	return c
}

// admitLocked decides whether one more inbound connection from k at remote fits the
// limits. Called with t.mu held.
func (t *Transport) admitLocked(k identity.PublicKey, friend bool, remote net.Addr) bool {
	l := t.limits
	ip := ipOf(remote)
	var sameKey, sameIP, strangers int
	for c := range t.conns {
		if !c.inbound || c.qc.Context().Err() != nil {
			continue
		}
		if c.peer == k {
			sameKey++
		}
		if c.stranger {
			strangers++
			if ipOf(c.qc.RemoteAddr()) == ip {
				sameIP++
			}
		}
	}
	if friend {
		return sameKey < l.FriendConnsPerKey
	}
	return sameKey < l.StrangerConnsPerKey && sameIP < l.StrangerConnsPerIP && strangers < l.StrangerConns
}

func ipOf(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
