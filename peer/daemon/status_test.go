package daemon

import (
	"testing"

	"github.com/kithnet/kith/peer/transport"
	"github.com/kithnet/kith/shared/identity"
)

// TestOnePerPeer: status names one connection per peer, a direct one where the peer
// has one (two finds crossing leave a direct and a relayed connection, in no
// particular order), else the first listed.
func TestOnePerPeer(t *testing.T) {
	a, b, c := identity.ID("a"), identity.ID("b"), identity.ID("c")
	p := func(id identity.ID, path, remote string) transport.Peer {
		return transport.Peer{ID: id, Path: path, Remote: remote}
	}
	got := onePerPeer([]transport.Peer{
		p(a, transport.Relay, "relay-a"), p(b, transport.Direct, "direct-b1"), p(a, transport.Direct, "direct-a"),
		p(b, transport.Relay, "relay-b"), p(c, transport.Relay, "relay-c1"), p(b, transport.Direct, "direct-b2"),
		p(c, transport.Relay, "relay-c2"),
	})
	if len(got) != 3 {
		t.Fatalf("onePerPeer kept %d connections, want 3: %+v", len(got), got)
	}
	for i, w := range []transport.Peer{p(a, transport.Direct, "direct-a"), p(b, transport.Direct, "direct-b1"), p(c, transport.Relay, "relay-c1")} {
		if got[i].ID != w.ID || got[i].Path != w.Path || got[i].Remote != w.Remote {
			t.Errorf("peer %d: %s by %s at %s, want %s by %s at %s", i, got[i].ID, got[i].Path, got[i].Remote, w.ID, w.Path, w.Remote)
		}
	}
}
