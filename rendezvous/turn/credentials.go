// Package turn runs the rendezvous's embedded STUN and TURN server (pion/turn) on one
// UDP socket: REST-API credentials compatible with coturn's use-auth-secret, a policy
// that refuses relaying to private peers, and a per-user allocation quota.
package turn

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Errors a caller may test for with errors.Is.
var (
	// ErrBadUsername means a TURN username is not "expiry:user".
	ErrBadUsername = errors.New("TURN username is not expiry:user")
	// ErrExpired means TURN credentials have expired.
	ErrExpired = errors.New("TURN credentials expired")
	// ErrPrivatePeer means relaying to the peer address is refused by policy.
	ErrPrivatePeer = errors.New("relaying to a loopback, private, link-local, multicast or unspecified address is refused")
	// ErrQuota means a user holds as many allocations as allowed.
	ErrQuota = errors.New("TURN allocation quota reached for this user")
	// ErrQuotaIP means a client address holds as many allocations as allowed.
	ErrQuotaIP = errors.New("TURN allocation quota reached for this address")
	// ErrFull means the server holds as many allocations as it allows in total.
	ErrFull = errors.New("TURN server full")
	// ErrNotGranted means the client is not connecting to anyone through this rendezvous
	// now, or the peer is not the one it is connecting to.
	ErrNotGranted = errors.New("no relay without a recent Connect to this peer through this rendezvous")
)

// Credentials returns the TURN REST-API credentials (coturn's use-auth-secret) for user,
// valid until expiry: username "expiry:user", password base64(HMAC-SHA1(secret, username)).
func Credentials(secret, user string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + user
	return username, Password(secret, username)
}

// Password is base64(HMAC-SHA1(secret, username)).
func Password(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ParseUsername splits a REST-API username into its expiry and user, and checks that it
// has not expired at now.
func ParseUsername(username string, now time.Time) (user string, err error) {
	exp, user, ok := strings.Cut(username, ":")
	secs, perr := strconv.ParseInt(exp, 10, 64)
	if !ok || perr != nil || secs <= 0 {
		return "", fmt.Errorf("%w: %q", ErrBadUsername, username)
	}
	if !now.Before(time.Unix(secs, 0)) {
		return "", fmt.Errorf("%w at %s", ErrExpired, time.Unix(secs, 0).UTC().Format(time.RFC3339))
	}
	return user, nil
}

// cgnat is RFC 6598 shared address space, 100.64.0.0/10.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// PeerAllowed reports whether the relay may send to ip unless private peers are allowed:
// not loopback, RFC 1918 or ULA, 100.64.0.0/10, link-local, multicast, unspecified or
// broadcast, nor anything in 0.0.0.0/8.
func PeerAllowed(ip netip.Addr) error {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid(), ip.IsUnspecified(), ip.IsLoopback(), ip.IsPrivate(), cgnat.Contains(ip),
		ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(), ip.IsMulticast(),
		ip.Is4() && (ip.As4()[0] == 0 || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255})):
		return fmt.Errorf("%w: %s", ErrPrivatePeer, ip)
	}
	return nil
}
