package discovery

import (
	"errors"
	"fmt"
	"net/netip"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
)

// ErrBadCandidate means a candidate cannot be sealed: its address is not "ip:port"
// with a port, or there are more than a record holds.
var ErrBadCandidate = errors.New("candidate is not an ip:port address that can be sealed")

// maxEndpoints is the most candidates a record holds (the rendezvous's limit).
const maxEndpoints = 16

// endpoints is cands in binary, for a Reachability (v2). A candidate whose address
// has a zone is left out: the zone names one of the sender's interfaces, which means
// nothing on a friend's host.
func endpoints(cands []*rendezvousv1.Candidate) ([]*rendezvousv1.Endpoint, error) {
	if len(cands) > maxEndpoints {
		return nil, fmt.Errorf("%w: %d candidates, at most %d", ErrBadCandidate, len(cands), maxEndpoints)
	}
	out := make([]*rendezvousv1.Endpoint, 0, len(cands))
	for i, c := range cands {
		ap, err := netip.ParseAddrPort(c.GetAddress())
		if err != nil || ap.Port() == 0 {
			return nil, fmt.Errorf("%w: candidate %d is %q", ErrBadCandidate, i, c.GetAddress())
		}
		if ap.Addr().Zone() != "" {
			continue
		}
		out = append(out, &rendezvousv1.Endpoint{Ip: ap.Addr().AsSlice(), Port: uint32(ap.Port()), Type: c.GetType()})
	}
	return out, nil
}

// candidates reads endpoints back as candidates; anything malformed makes the whole
// record unreadable (ErrNoReachability), as a record that does not open does.
func candidates(eps []*rendezvousv1.Endpoint) ([]*rendezvousv1.Candidate, error) {
	if len(eps) > maxEndpoints {
		return nil, fmt.Errorf("%w: %d endpoints, at most %d", ErrNoReachability, len(eps), maxEndpoints)
	}
	out := make([]*rendezvousv1.Candidate, 0, len(eps))
	for i, e := range eps {
		ip, ok := netip.AddrFromSlice(e.GetIp())
		if !ok || e.GetPort() == 0 || e.GetPort() > 0xffff {
			return nil, fmt.Errorf("%w: endpoint %d is %x port %d", ErrNoReachability, i, e.GetIp(), e.GetPort())
		}
		out = append(out, &rendezvousv1.Candidate{Address: netip.AddrPortFrom(ip, uint16(e.GetPort())).String(), Type: e.GetType()})
	}
	return out, nil
}
