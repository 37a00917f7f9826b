package reach

import (
	"crypto/x509"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/transport"
	"github.com/kithnet/kith/shared/identity"
)

// Book is what reach needs to know of the person it runs for: who is a friend, the
// reachability keys, whether there is something public to show. A nil Book is a
// stranger with nothing to show (the crawler).
type Book interface {
	// IsFriend reports whether k is a friend now.
	IsFriend(k identity.PublicKey) bool
	// ReachKey is the person's current reachability key (sealing the candidates).
	ReachKey() ([]byte, error)
	// FriendReachKey is the reachability key friend k gave us, nil when none.
	FriendReachKey(k identity.PublicKey) ([]byte, error)
	// HasPublic reports whether the person has a public post now.
	HasPublic() bool
	// Changed is signalled after every change of the person's data.
	Changed() <-chan struct{}
	// SetLastPath keeps the last direct address that carried a connection to friend
	// k, so it can be redialled with the rendezvous unreachable (across restarts too).
	SetLastPath(k identity.PublicKey, addr netip.AddrPort) error
	// LastPath is the address SetLastPath kept for k.
	LastPath(k identity.PublicKey) (netip.AddrPort, bool)
	// FriendRequest hands over a friend request that came sealed through the
	// rendezvous (an offer of kind FRIEND_REQUEST, issue 18); the node checks it.
	FriendRequest(from identity.PublicKey, req *signedv1.Envelope)
}

// PortMapper is a mapping the node's router made for its socket (PCP, NAT-PMP or
// UPnP-IGD, peer/portmap): External is the mapped public address, false while there is
// none. Its address is published as a PORT_MAPPED candidate.
type PortMapper interface {
	External() (netip.AddrPort, bool)
}

// Config is what an Agent needs. Servers empty is direct mode: friends are dialled at
// the address they were added with, nothing else.
type Config struct {
	// Key is this node's key: the person's identity, or a device key (issue 16).
	Key *identity.Key
	// DeviceID and DeviceCertificate, when Key is a device key, name the device and
	// carry the certificate its person's identity issued for it (registrations, offers
	// and the relay's TLS carry it; see peer/discovery and peer/transport).
	DeviceID          []byte
	DeviceCertificate *signedv1.Envelope
	// Transport is the node's QUIC transport on Mux's PacketConn (or, in direct mode,
	// on the plain socket).
	Transport *transport.Transport
	// Mux demultiplexes the node's one UDP socket: STUN, punching, TURN and QUIC.
	// Required with Servers.
	Mux *nat.Mux
	// Servers are rendezvous gRPC addresses (host:port or tls://host:port), with
	// failover in this order. Empty: direct mode.
	Servers []string
	// Book answers who is a friend and holds the reachability keys; nil: a stranger.
	Book Book
	// JoinOffer reports whether a stranger's offer carries, as its punch secret, the
	// proof of a join code this node handed out and still waits for (issue 16): such an
	// offer is answered. nil: none is.
	JoinOffer func(punchSecret []byte) bool
	// OwnDevice reports whether k is one of this person's devices that the device list
	// holds, not revoked (issue 16): such a device's offers are answered. nil: none is.
	OwnDevice func(k identity.PublicKey) bool
	// Serve serves the sync API on a listener of the relay's transport, so friends
	// pull through it too; nil serves nothing there.
	Serve func(net.Listener)
	// OnPath is told when a friend reached us on a new path (it answered an offer we
	// sent, or offered itself); nil: nobody is told.
	OnPath func(k identity.PublicKey)
	// PortMapper, when set, gives a port-mapped candidate.
	PortMapper PortMapper
	// Logger receives what the agent has to say; slog.Default() when nil.
	Logger *slog.Logger
	// KeepAlive is how often the reflexive mapping is refreshed (a STUN binding) and
	// idle relayed connections send a packet; also how recently a path must have
	// answered to count as live. 15 s when zero.
	KeepAlive time.Duration
	// PunchTimeout is how long punching may take before it is given up; 3 s when
	// zero. Negative skips punching when connecting (tests of the relay path use it).
	PunchTimeout time.Duration
	// UpgradeEvery is how often a friend reached through a relay is punched again, to
	// move to a direct path once one works; 35 s when zero: longer than the 30 s a
	// Linux router keeps an unreplied UDP entry, so what one round left on a router has
	// expired before the next round.
	UpgradeEvery time.Duration
	// RelayTimeout bounds the relay path (credentials, allocation, the friend's
	// answer); 10 s when zero.
	RelayTimeout time.Duration
	// PublishAddresses puts the candidates in plain into the registration, for
	// strangers and crawlers, while the person has a public post; and only then are
	// strangers' offers answered. Off: candidates are sealed for friends alone.
	PublishAddresses bool
	// RootCAs verify tls:// rendezvous servers; nil: the system roots.
	RootCAs *x509.CertPool
	// Limits bound inbound connections on the relay's transport.
	Limits transport.Limits
	// Revoked returns a person's verified device revocations, for the relay's transport
	// as for the node's (transport.Config.Revoked).
	Revoked func(person identity.PublicKey) ([]device.Revocation, error)
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = nat.DefaultKeepalive
	}
	if c.PunchTimeout == 0 {
		c.PunchTimeout = 3 * time.Second
	}
	if c.UpgradeEvery == 0 {
		c.UpgradeEvery = 35 * time.Second
	}
	if c.RelayTimeout == 0 {
		c.RelayTimeout = 10 * time.Second
	}
	if c.Book == nil {
		c.Book = stranger{}
	}
	return c
}

// stranger is the Book of a node that knows nobody and shows nothing.
type stranger struct{}

func (stranger) IsFriend(identity.PublicKey) bool                     { return false }
func (stranger) FriendRequest(identity.PublicKey, *signedv1.Envelope) {}
func (stranger) ReachKey() ([]byte, error)                            { return nil, nil }
func (stranger) FriendReachKey(identity.PublicKey) ([]byte, error)    { return nil, nil }
func (stranger) HasPublic() bool                                      { return false }
func (stranger) Changed() <-chan struct{}                             { return nil }
func (stranger) SetLastPath(identity.PublicKey, netip.AddrPort) error { return nil }
func (stranger) LastPath(identity.PublicKey) (netip.AddrPort, bool)   { return netip.AddrPort{}, false }
