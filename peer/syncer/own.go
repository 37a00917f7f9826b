package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/feed"
	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/transport"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Own-device sync (issue 16; docs/DESIGN.md "Own-device sync"): OwnChanges answers
// the person's other devices only; PullOwn pulls one of them to the end.

// ErrNotOwnDevice means a caller of OwnChanges is not a device of this person that
// this node knows and has not revoked.
var ErrNotOwnDevice = errors.New("own changes are for the person's own devices only")

// ownLimit is how many posts one OwnChanges answer holds at most.
const ownLimit = 500

// OwnChanges answers another device of the serving person: own posts with audiences,
// friends, groups, devices and revocations.
func (s *Server) OwnChanges(ctx context.Context, req *syncv1.OwnChangesRequest) (*syncv1.OwnChangesResponse, error) {
	self, err := s.st.Self()
	if err != nil {
		return nil, toStatus(err)
	}
	caller, ok := s.caller(ctx)
	dev, dok := transport.CallerDevice(ctx)
	if !ok || !dok || caller != self || (dev != self && !s.st.IsOwnDevice(dev)) {
		return nil, status.Error(codes.PermissionDenied, ErrNotOwnDevice.Error())
	}
	s.seenDevice(ctx, dev)
	limit := int(req.GetLimit())
	if limit <= 0 || limit > ownLimit {
		limit = ownLimit
	}
	pg, err := s.st.OwnSince(req.GetSince(), limit)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &syncv1.OwnChangesResponse{Last: pg.Last, More: pg.More, ListsVersion: store.ListsVersion}
	for _, e := range pg.Posts {
		a, err := json.Marshal(e.Audience)
		if err != nil {
			return nil, toStatus(err)
		}
		resp.Posts = append(resp.Posts, &syncv1.OwnPost{Envelope: e.Envelope, Audience: a})
	}
	if resp.Lists, err = store.MarshalLists(pg.Lists); err != nil {
		return nil, toStatus(err)
	}
	if resp.Devices, err = store.MarshalDevices(pg.Devices); err != nil {
		return nil, toStatus(err)
	}
	if resp.Revocations, err = s.st.RevocationEnvelopes(self); err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

// seenDevice notes when and from where an own device called.
func (s *Server) seenDevice(ctx context.Context, dev identity.PublicKey) {
	if err := s.st.SeenDevice(dev, s.now()); err != nil {
		s.log.Debug("could not note an own device's visit", "err", err)
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if err := s.st.SetDeviceAddr(dev, p.Addr.String()); err != nil {
			s.log.Debug("could not note an own device's address", "err", err)
		}
	}
}

// OwnResult says what one PullOwn stored.
type OwnResult struct {
	Stored, Dropped, Blobs int
	// Removed is how many friends the other device's removals took away here (each
	// rotated the reachability key: the node registers again).
	Removed int
	Cursor  uint64
}

// PullOwn pulls another device dev of this person to the end: its revocations first
// (so nothing a revoked device signed is taken), then its own changes page by page,
// each post's chain checked against the person and its attachments fetched before the
// page and its cursor are stored.
func (p *Puller) PullOwn(ctx context.Context, c syncv1.SyncServiceClient, dev identity.PublicKey) (OwnResult, error) {
	var res OwnResult
	self, err := p.cfg.Store.Self()
	if err != nil {
		return res, err
	}
	for {
		since, err := p.cfg.Store.Cursor(dev)
		if err != nil {
			return res, err
		}
		resp, err := c.OwnChanges(ctx, &syncv1.OwnChangesRequest{Since: since})
		if err != nil {
			return res, fmt.Errorf("own changes of device %s: %w", dev.Short(), err)
		}
		if err := p.keepRevocations(self, resp.GetRevocations()); err != nil {
			return res, err
		}
		b, dropped, err := p.ownBatch(self, resp)
		if err != nil {
			return res, err
		}
		res.Dropped += dropped
		vs := make([]store.Verified, len(b.Posts))
		for i, v := range b.Posts {
			vs[i] = store.Verified{Envelope: v.Envelope, Payload: v.Payload}
		}
		n, err := p.fetchBlobs(ctx, c, self, vs)
		res.Blobs += n
		if err != nil {
			return res, err
		}
		b.Conversations, n, err = p.ownConversations(ctx, c, self, vs)
		res.Blobs += n
		if err != nil {
			return res, err
		}
		applied, err := p.cfg.Store.ApplyOwn(dev, b)
		if err != nil {
			return res, err
		}
		res.Stored += applied.Posts
		res.Removed += applied.Removed
		res.Cursor = b.Cursor
		if !resp.GetMore() || resp.GetLast() <= since {
			return res, nil
		}
	}
}

func (p *Puller) keepRevocations(self identity.PublicKey, envs []*signedv1.Envelope) error {
	if len(envs) > store.MaxRevocations {
		return fmt.Errorf("%w: more than %d revocations", ErrTampered, store.MaxRevocations)
	}
	for _, env := range envs {
		changed, err := p.cfg.Store.AddRevocation(self, env)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrTampered, err)
		}
		if changed {
			p.log.Info("learned of a revoked device of ours from another device")
		}
	}
	return nil
}

// ownBatch verifies one OwnChanges answer: every post's chain (one a revoked or
// uncertified key signed is left out and counted), audiences and lists.
func (p *Puller) ownBatch(self identity.PublicKey, resp *syncv1.OwnChangesResponse) (store.OwnBatch, int, error) {
	b := store.OwnBatch{Cursor: resp.GetLast()}
	revoked, err := p.cfg.Store.Revocations(self)
	if err != nil {
		return b, 0, err
	}
	if b.Lists, err = store.ParseLists(resp.GetListsVersion(), resp.GetLists(), time.Now()); err != nil {
		return b, 0, fmt.Errorf("%w: %w", ErrTampered, err)
	}
	envs := make([]*signedv1.Envelope, len(resp.GetPosts()))
	for i, op := range resp.GetPosts() {
		envs[i] = op.GetEnvelope()
	}
	payloads, errs := post.OpenAllChain(envs, self, revoked)
	dropped := 0
	for i, op := range resp.GetPosts() {
		if errs[i] != nil {
			p.log.Warn("refused an own post another device served", "err", errs[i])
			dropped++
			continue
		}
		var a feed.Audience
		if err := json.Unmarshal(op.GetAudience(), &a); err != nil {
			return b, dropped, fmt.Errorf("%w: audience: %v", ErrTampered, err)
		}
		b.Posts = append(b.Posts, store.OwnVerified{Envelope: envs[i], Payload: payloads[i], Audience: a})
	}
	if b.Devices, err = store.ParseDevices(resp.GetDevices()); err != nil {
		return b, dropped, fmt.Errorf("%w: %w", ErrTampered, err)
	}
	return b, dropped, nil
}
