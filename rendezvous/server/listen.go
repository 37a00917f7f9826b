package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous/store"
	"github.com/kithnet/kith/shared/identity"
)

// Frames on a fingerprint's channel: an offer for its listener, or the announcement of a
// Listen session. A session is the server time it started at (Unix nanoseconds, 8 bytes
// big-endian) and 16 random bytes, so sessions order by their byte strings: the newest
// wins (the server's clock, not the peer's, so a peer whose clock stepped back still
// replaces its stale stream). A session that sees a
// newer one ends; one that sees an older one announces itself again, so that the older
// one ends even when the two started at the same moment on different instances.
const (
	frameOffer   byte = 'o'
	frameSession byte = 's'
)

func offerFrame(resp *rendezvousv1.ListenResponse) ([]byte, error) {
	b, err := proto.Marshal(resp)
	if err != nil {
		return nil, err
	}
	return append([]byte{frameOffer}, b...), nil
}

func sessionFrame(session []byte) []byte { return append([]byte{frameSession}, session...) }

// newSession makes a session id for a Listen starting at now.
func newSession(now time.Time) []byte {
	session := binary.BigEndian.AppendUint64(make([]byte, 0, 24), uint64(now.UnixNano()))
	return append(session, rand.Text()[:16]...)
}

// Listen implements RendezvousServiceServer. The first message is an empty keepalive
// sent once offers can be received; then offers, with a keepalive when idle.
func (s *Server) Listen(req *rendezvousv1.ListenRequest, stream rendezvousv1.RendezvousService_ListenServer) error {
	ctx := stream.Context()
	// Counted before the signature check: the bound is what keeps a flood cheap.
	release, err := s.holdListen(hostOf(observed(ctx)))
	if err != nil {
		return err
	}
	defer release()
	_, p, err := s.authenticate(ctx, req.GetAuth(), identity.ContextListen, "listen")
	if err != nil {
		return err
	}
	// A device listens on its own channel: sessions replace each other per device, so
	// two devices of one person stay registered and reachable at once.
	fp := p.channel()
	sub, err := s.store.Subscribe(ctx, fp)
	if err != nil {
		return fmt.Errorf("listen %s: %w", fp, err)
	}
	defer sub.Close()
	session := newSession(time.Now()) // wall time orders events here; it validates nothing
	if err := s.announce(ctx, fp, session); err != nil {
		return err
	}
	s.log.Debug("listen", "fingerprint", fp, "peer", observed(ctx))
	defer s.listens.track(fp, observed(ctx))()
	return s.serveListen(ctx, stream, sub, session, fp)
}

// holdListen counts one more Listen stream from ip, refusing it past ListensPerIP;
// release uncounts it.
func (s *Server) holdListen(ip string) (release func(), err error) {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	if n := s.listensByIP[ip]; s.cfg.ListensPerIP >= 0 && n >= s.cfg.ListensPerIP {
		return nil, fmt.Errorf("listen from %s: %w (%d streams per address)", ip, ErrTooManyListens, s.cfg.ListensPerIP)
	}
	s.listensByIP[ip]++
	s.cfg.Metrics.ListenStreams(1)
	return func() {
		s.listenMu.Lock()
		defer s.listenMu.Unlock()
		if s.listensByIP[ip]--; s.listensByIP[ip] <= 0 {
			delete(s.listensByIP, ip)
		}
		s.cfg.Metrics.ListenStreams(-1)
	}, nil
}

// announce publishes session on fp's channel.
func (s *Server) announce(ctx context.Context, fp identity.Fingerprint, session []byte) error {
	if err := s.store.Publish(ctx, fp, sessionFrame(session)); err != nil && !errors.Is(err, store.ErrNoListener) {
		return fmt.Errorf("listen %s: %w", fp, err)
	}
	return nil
}

func (s *Server) serveListen(ctx context.Context, stream rendezvousv1.RendezvousService_ListenServer,
	sub store.Subscription, session []byte, fp identity.Fingerprint) error {
	keepalive := time.NewTicker(s.cfg.Keepalive)
	defer keepalive.Stop()
	if err := stream.Send(&rendezvousv1.ListenResponse{}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.drain:
			return fmt.Errorf("listen %s: %w", fp, ErrShuttingDown)
		case <-keepalive.C:
			if err := stream.Send(&rendezvousv1.ListenResponse{}); err != nil {
				return err
			}
		case msg, ok := <-sub.Messages():
			if !ok {
				return fmt.Errorf("listen %s: subscription ended: %w", fp, ErrShuttingDown)
			}
			if len(msg) == 0 {
				continue
			}
			switch msg[0] {
			case frameSession:
				switch bytes.Compare(msg[1:], session) {
				case 1:
					return fmt.Errorf("listen %s: %w", fp, ErrReplaced)
				case -1:
					if err := s.announce(ctx, fp, session); err != nil {
						return err
					}
				}
			case frameOffer:
				resp := &rendezvousv1.ListenResponse{}
				if err := proto.Unmarshal(msg[1:], resp); err != nil {
					s.log.Warn("listen: dropping a malformed frame", "fingerprint", fp, "err", err)
					continue
				}
				if resp.GetOffer() != nil {
					s.grantListener(ctx, resp.GetObservedAddress())
				}
				if err := stream.Send(resp); err != nil {
					return err
				}
			}
		}
	}
}

// Connect implements RendezvousServiceServer.
func (s *Server) Connect(ctx context.Context, req *rendezvousv1.ConnectRequest) (*rendezvousv1.ConnectResponse, error) {
	target, err := identity.ParseFingerprint(req.GetTargetFingerprint())
	if err != nil {
		return nil, fmt.Errorf("connect: target: %w", err)
	}
	o, err := s.cfg.Limits.Offer(req.GetOffer(), target, s.cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", target, err)
	}
	// The caller is sealed inside: the offer is charged to its target (and, by the
	// interceptor, to the client IP), and its frame nonce is claimed per target.
	if err := s.allowTarget(ctx, target); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", target, err)
	}
	if err := s.claimNonce(ctx, string(identity.ContextOffer), target, o.GetNonce()); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", target, err)
	}
	to := principal{fp: target}
	var rec *signedv1.Envelope
	if dev := o.GetTargetDeviceId(); len(dev) > 0 {
		to.device = dev
		rec, err = s.deviceRecord(ctx, target, dev)
	} else {
		rec, err = s.record(ctx, target)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", to, err)
	}
	frame, err := offerFrame(&rendezvousv1.ListenResponse{Offer: req.GetOffer(), ObservedAddress: observed(ctx)})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", to, err)
	}
	if err := s.store.Publish(ctx, to.channel(), frame); err != nil {
		return nil, fmt.Errorf("connect to %s: %w (it must keep a Listen stream open)", to, err)
	}
	s.cfg.Metrics.Offer("sealed")
	s.grantRelay(ctx, to.channel(), rec)
	return &rendezvousv1.ConnectResponse{Record: rec}, nil
}
