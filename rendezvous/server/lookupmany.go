package server

import (
	"context"
	"errors"
	"fmt"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	"github.com/kithnet/kith/shared/identity"
)

// MaxLookupMany is the most fingerprints one LookupMany may name: a peer's friends.
const MaxLookupMany = 512

// lookupManyPerRequest is how many fingerprints of a LookupMany count as one request
// against the client IP's budget, beyond the one the interceptor charges: a batch
// resolves many keys cheaply, but must not multiply what one address may enumerate.
const lookupManyPerRequest = 16

var (
	// ErrTooManyFingerprints means a LookupMany names more than MaxLookupMany.
	ErrTooManyFingerprints = fmt.Errorf("too many fingerprints in one LookupMany (at most %d)", MaxLookupMany)
	// ErrDuplicateFingerprint means a LookupMany names one fingerprint twice.
	ErrDuplicateFingerprint = errors.New("fingerprint named twice in one LookupMany")
)

// LookupMany implements RendezvousServiceServer.
func (s *Server) LookupMany(ctx context.Context, req *rendezvousv1.LookupManyRequest) (*rendezvousv1.LookupManyResponse, error) {
	fps, err := parseFingerprints(req.GetFingerprints())
	if err != nil {
		return nil, fmt.Errorf("lookup many: %w", err)
	}
	if extra := (len(fps) - 1) / lookupManyPerRequest; extra > 0 && s.cfg.RateLimit.PerIP >= 0 {
		ip := hostOf(observed(ctx))
		ok, err := s.store.AllowN(ctx, "ip:"+ip, extra, s.cfg.RateLimit.PerIP, s.cfg.RateLimit.Window)
		if err != nil {
			return nil, fmt.Errorf("lookup many: %w", err)
		}
		if !ok {
			return nil, fmt.Errorf("lookup many from %s: %w (%d requests per %s; %d fingerprints count as one)",
				ip, ErrRateLimited, s.cfg.RateLimit.PerIP, s.cfg.RateLimit.Window, lookupManyPerRequest)
		}
	}
	recs, err := s.store.GetMany(ctx, fps)
	if err != nil {
		return nil, fmt.Errorf("lookup many: %w", err)
	}
	devs, err := s.store.Devices(ctx, fps)
	if err != nil {
		return nil, fmt.Errorf("lookup many: %w", err)
	}
	resp := &rendezvousv1.LookupManyResponse{}
	for i, rec := range recs {
		denvs, err := envelopes(fps[i], devs[i])
		if err != nil {
			return nil, fmt.Errorf("lookup many: %w", err)
		}
		env := newestOf(devs[i], denvs)
		if rec.Envelope != nil {
			if env, err = decodeStored(rec.Envelope); err != nil {
				return nil, fmt.Errorf("lookup many: %s: %w", fps[i], err)
			}
		}
		if env == nil {
			s.cfg.Metrics.Lookup("not_found")
			continue
		}
		s.cfg.Metrics.Lookup("found")
		resp.Records = append(resp.Records, &rendezvousv1.FoundRecord{Fingerprint: string(fps[i]), Record: env, Devices: denvs})
	}
	return resp, nil
}

// parseFingerprints checks a LookupMany's list: bounded, well formed, no repeats.
func parseFingerprints(in []string) ([]identity.Fingerprint, error) {
	if len(in) > MaxLookupMany {
		return nil, fmt.Errorf("%w: %d named", ErrTooManyFingerprints, len(in))
	}
	fps := make([]identity.Fingerprint, len(in))
	seen := make(map[identity.Fingerprint]struct{}, len(in))
	for i, s := range in {
		fp, err := identity.ParseFingerprint(s)
		if err != nil {
			return nil, fmt.Errorf("fingerprint %d: %w", i, err)
		}
		if _, dup := seen[fp]; dup {
			return nil, fmt.Errorf("fingerprint %d (%s): %w", i, fp, ErrDuplicateFingerprint)
		}
		seen[fp] = struct{}{}
		fps[i] = fp
	}
	return fps, nil
}
