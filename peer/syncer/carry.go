package syncer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/carry"
	"github.com/kithnet/kith/peer/store"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Bounds of the parcel API.
const (
	// DefaultParcels is how many parcels one GetParcels answer holds when the caller says 0.
	DefaultParcels = 500
	// MaxParcels caps GetParcels' limit and AckParcels' acks.
	MaxParcels = 1000
)

// GetParcels serves this node's parcel log (its own sealed posts and those it carries)
// to friends. A stranger is refused: carriers are friends.
func (s *Server) GetParcels(ctx context.Context, req *syncv1.GetParcelsRequest) (*syncv1.GetParcelsResponse, error) {
	k, err := s.who(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.st.Friend(k); err != nil {
		return nil, status.Error(codes.PermissionDenied, "sealed parcels are handed to friends only")
	}
	if _, err := s.sealer.Refresh(); errors.Is(err, store.ErrNeedIdentity) {
		// A joined device: parcels are sealed with keys derived from the identity's
		// seed, so the device that holds it seals the person's posts (DESIGN.md, "A
		// joined device speaks for its person in conversation").
		s.log.Debug("own parcels are sealed on the device that holds the identity", "err", err)
	} else if err != nil {
		s.log.Warn("could not seal own parcels", "err", err)
	}
	limit := int(req.GetLimit())
	if limit <= 0 {
		limit = DefaultParcels
	}
	pg, err := s.st.ParcelsSince(req.GetSince(), min(limit, MaxParcels), MaxAnswer)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &syncv1.GetParcelsResponse{Parcels: pg.Parcels, LastSeq: pg.LastSeq, More: pg.More}, nil
}

// AckParcels takes readers' acknowledgement secrets, from friends only.
func (s *Server) AckParcels(ctx context.Context, req *syncv1.AckParcelsRequest) (*syncv1.AckParcelsResponse, error) {
	k, err := s.who(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.st.Friend(k); err != nil {
		return nil, status.Error(codes.PermissionDenied, "acknowledgements are taken from friends only")
	}
	if len(req.GetAcks()) > MaxParcels {
		return nil, status.Errorf(codes.InvalidArgument, "%d acknowledgements, at most %d per call", len(req.GetAcks()), MaxParcels)
	}
	_, dropped, err := s.st.AckParcels(storeAcks(req.GetAcks()))
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &syncv1.AckParcelsResponse{Dropped: uint32(dropped)}, nil
}

// CarryResult sums up what one friend's parcel log brought.
type CarryResult struct {
	store.CarryResult
	// Refused counts parcels that did not verify (altered or forged by the carrier or
	// someone before it); nothing of them was kept.
	Refused int
	// OverQuota is the first reason a parcel was not kept for others, empty when all were.
	OverQuota string
}

// PullParcels reads friend via's parcel log to its end: each parcel is checked, opened
// when it is addressed to this node (the author's signature verified, attachments
// checked), kept sealed for other readers within policy, and acknowledged to via.
func (p *Puller) PullParcels(ctx context.Context, c syncv1.SyncServiceClient, me *identity.Key, via identity.PublicKey, pol store.CarryPolicy) (CarryResult, error) {
	res, acks, err := p.ReadParcels(ctx, c, me, via, pol)
	p.AckCarrier(ctx, c, acks)
	return res, err
}

// ReadParcels is PullParcels without showing via the acknowledgements: it returns them,
// for AckCarrier, so a caller need not wait the round trip (copies kept here are
// acknowledged at once).
func (p *Puller) ReadParcels(ctx context.Context, c syncv1.SyncServiceClient, me *identity.Key, via identity.PublicKey, pol store.CarryPolicy) (CarryResult, []*syncv1.ParcelAck, error) {
	res := CarryResult{CarryResult: store.CarryResult{Stored: map[identity.PublicKey]int{}}}
	var all []*syncv1.ParcelAck
	if _, err := p.cfg.Store.ExpireCarried(pol.Retention); err != nil {
		return res, nil, err
	}
	cursor, err := p.cfg.Store.ParcelCursor(via)
	if err != nil {
		return res, nil, err
	}
	for {
		resp, err := c.GetParcels(ctx, &syncv1.GetParcelsRequest{Since: cursor})
		if err != nil {
			return res, all, fmt.Errorf("parcels of %s since %d: %w", via.Short(), cursor, err)
		}
		if resp.GetLastSeq() < cursor && cursor > 0 {
			cursor = 0 // the carrier's home was rebuilt: read its log again
			continue
		}
		if resp.GetMore() && resp.GetLastSeq() <= cursor {
			return res, all, fmt.Errorf("parcels of %s: %w: more to come, but last_seq did not move from %d", via.Short(), ErrProtocol, cursor)
		}
		b, acks, refused := p.openParcels(me, via, resp.GetParcels())
		res.Refused += refused
		b.Cursor = resp.GetLastSeq()
		n, err := p.cfg.Store.ApplyParcels(via, b, pol)
		if err != nil {
			return res, all, fmt.Errorf("parcels of %s: %w", via.Short(), err)
		}
		res.Kept += n.Kept
		res.Ignored += n.Ignored
		res.Dropped += n.Dropped
		for a, k := range n.Stored {
			res.Stored[a] += k
		}
		if len(n.Refused) > 0 {
			res.CarryResult.Refused = append(res.CarryResult.Refused, n.Refused...)
			if res.OverQuota == "" {
				res.OverQuota = n.Refused[0].Error()
			}
			p.log.Warn("not carrying sealed parcels", "friend", via.ID(), "refused", len(n.Refused), "reason", n.Refused[0])
		}
		p.ackHere(acks)
		all = append(all, acks...)
		cursor = b.Cursor
		if !resp.GetMore() || len(resp.GetParcels()) == 0 {
			return res, all, nil
		}
	}
}

// ackHere presents this node's acknowledgement secrets to its own copies.
func (p *Puller) ackHere(acks []*syncv1.ParcelAck) {
	if _, _, err := p.cfg.Store.AckParcels(storeAcks(acks)); err != nil {
		p.log.Warn("acknowledging parcels kept here", "err", err)
	}
}

// AckCarrier presents this node's acknowledgement secrets (from ReadParcels) to the
// carrier; failures are logged.
func (p *Puller) AckCarrier(ctx context.Context, c syncv1.SyncServiceClient, acks []*syncv1.ParcelAck) {
	for len(acks) > 0 {
		n := min(len(acks), MaxParcels)
		if _, err := c.AckParcels(ctx, &syncv1.AckParcelsRequest{Acks: acks[:n]}); err != nil {
			p.log.Info("could not acknowledge parcels", "err", err)
			return
		}
		acks = acks[n:]
	}
}

// openParcels checks every parcel of a page (on every core); refused ones are logged with
// the carrier that handed them over and left out.
func (p *Puller) openParcels(me *identity.Key, via identity.PublicKey, envs []*signedv1.Envelope) (store.ParcelBatch, []*syncv1.ParcelAck, int) {
	type opened struct {
		parcel *syncv1.Parcel
		o      carry.Opened
		err    error
	}
	res := make([]opened, len(envs))
	workers := min(runtime.GOMAXPROCS(0), len(envs))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(envs); i += workers {
				r := &res[i]
				if r.parcel, r.err = carry.Check(envs[i]); r.err == nil {
					r.o, r.err = carry.OpenChecked(r.parcel, me)
				}
			}
		}()
	}
	wg.Wait()
	var b store.ParcelBatch
	var acks []*syncv1.ParcelAck
	refused := 0
	for i, r := range res {
		err := r.err
		if err == nil {
			err = p.keepOpened(r.o, &b)
		}
		if err != nil && !errors.Is(err, carry.ErrNotForMe) {
			refused++
			p.log.Warn("refused a sealed parcel", "carrier", via.ID(), "err", err)
			continue
		}
		b.Carry = append(b.Carry, envs[i])
		b.Parcels = append(b.Parcels, r.parcel)
		if r.o.Ack != nil {
			acks = append(acks, &syncv1.ParcelAck{Slot: r.parcel.GetSlot(), Seq: r.parcel.GetSeq(), Secret: r.o.Ack})
		}
	}
	return b, acks, refused
}

// keepOpened commits an opened post's attachments and adds it, or a revocation, to b.
func (p *Puller) keepOpened(o carry.Opened, b *store.ParcelBatch) error {
	if o.Post == nil {
		b.Revocations = append(b.Revocations, store.CarriedRevocation{Author: o.Author, ID: o.Revoked, Version: o.RevokedAt})
		return nil
	}
	for i, blob := range o.Post.Blobs {
		w, err := p.cfg.Store.NewBlob()
		if err != nil {
			return err
		}
		if _, err := w.Write(blob.Data); err != nil {
			w.Abort()
			return err
		}
		if _, err := w.Commit(o.Post.Payload.GetAttachments()[i]); err != nil {
			return err
		}
	}
	b.Posts = append(b.Posts, store.CarriedPost{Author: o.Author, Post: store.Verified{Envelope: o.Post.Envelope, Payload: o.Post.Payload}})
	return nil
}

func storeAcks(in []*syncv1.ParcelAck) []store.ParcelAck {
	out := make([]store.ParcelAck, len(in))
	for i, a := range in {
		out[i] = store.ParcelAck{Slot: a.GetSlot(), Seq: a.GetSeq(), Secret: a.GetSecret()}
	}
	return out
}
