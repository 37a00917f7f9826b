package daemon

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/recovery"
	"github.com/kithnet/kith/peer/store"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	"github.com/kithnet/kith/shared/identity"
)

// kitChoice is the newest copy of the own recovery kit found so far.
type kitChoice struct {
	kit  *recovery.Kit
	from store.Friend
	seen int
}

// Recover brings a person back after a lost disk. It asks the friend named in req (or
// each known friend) for their copy of the person's recovery kit, then every friend
// that copy lists, and so on while a newer copy turns up: the newest signed kit wins, so
// a friend removed before it was made is not brought back by an older copy. It restores
// friends, groups and post audiences from that kit, then asks every friend in it (and
// the named helpers) for the person's posts, verifying each signature; each post gets
// the audience the kit names, or, failing closed, the person alone. The last message
// names the kit used and the posts that did not come back.
func (l *Local) Recover(req *localv1.RecoverRequest, stream localv1.LocalService_RecoverServer) error {
	ctx := stream.Context()
	key, err := l.st.Key()
	if err != nil {
		return grpcError(err)
	}
	helpers, err := l.firstHelpers(req)
	if err != nil {
		return err
	}
	best, err := l.newestKit(ctx, key, helpers, stream)
	if err != nil {
		return err
	}
	if best.kit != nil {
		if err := l.st.RestoreKit(*best.kit, best.from.Key, best.from.Addr); err != nil {
			return grpcError(err)
		}
		l.node.Wake()
	}
	var total store.Recovery
	asked := map[identity.PublicKey]bool{}
	ask := func(f store.Friend) error {
		if asked[f.Key] || !l.node.reachable(f) {
			return nil
		}
		asked[f.Key] = true
		n, err := l.node.Recover(ctx, f)
		total.Stored += n.Stored
		total.Narrowed += n.Narrowed
		msg := &localv1.RecoverResponse{FriendId: string(f.Key.ID()), Posts: uint32(n.Stored)}
		if err != nil {
			msg.Error = err.Error()
		}
		return stream.Send(msg)
	}
	for _, f := range helpers {
		if err := ask(f); err != nil {
			return err
		}
	}
	friends, err := l.st.Friends()
	if err != nil {
		return grpcError(err)
	}
	for _, f := range friends {
		if err := ask(f); err != nil {
			return err
		}
	}
	return l.sendDone(stream, best, total, len(friends))
}

// newestKit collects the copies of the person's kit that friends keep: the helpers
// first, then every friend listed in the newest copy so far, until no newer one turns up.
// Each copy is verified and opened with the person's key; one that does not is reported
// and ignored.
func (l *Local) newestKit(ctx context.Context, key *identity.Key, helpers []store.Friend, stream localv1.LocalService_RecoverServer) (kitChoice, error) {
	var best kitChoice
	asked := map[identity.PublicKey]bool{}
	queue := append([]store.Friend(nil), helpers...)
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		if asked[f.Key] || !l.node.reachable(f) {
			continue
		}
		asked[f.Key] = true
		msg := &localv1.RecoverResponse{FriendId: string(f.Key.ID())}
		env, err := l.node.RecoverKit(ctx, f)
		var k recovery.Kit
		if err == nil && env != nil {
			k, err = recovery.Open(env, key)
			if err != nil {
				err = fmt.Errorf("its copy of the recovery kit was rejected: %w", err)
			}
		}
		switch {
		case err != nil:
			msg.Error = err.Error()
		case env == nil:
			msg.Error = "it keeps no recovery kit of yours"
		default:
			best.seen++
			msg.Friends, msg.KitCreatedUnixMs = uint32(len(k.Friends)), k.Created.UnixMilli()
			if best.kit == nil || k.Created.After(best.kit.Created) {
				best.kit, best.from = &k, f
				for _, kf := range k.Friends {
					queue = append(queue, store.Friend{Key: kf.Key, Name: kf.Name, Addr: kf.Addr, Groups: kf.Groups})
				}
			}
		}
		if err := stream.Send(msg); err != nil {
			return best, err
		}
	}
	return best, nil
}

// sendDone sends the totals, the kit used and the posts that did not come back.
func (l *Local) sendDone(stream localv1.LocalService_RecoverServer, best kitChoice, total store.Recovery, friends int) error {
	done := &localv1.RecoverResponse{Done: true, Posts: uint32(total.Stored), Friends: uint32(friends),
		Narrowed: uint32(total.Narrowed), KitsSeen: uint32(best.seen)}
	if best.kit != nil {
		done.KitFrom, done.KitCreatedUnixMs = string(best.from.Key.ID()), best.kit.Created.UnixMilli()
	}
	lost, err := l.st.LostPosts()
	if err != nil {
		return grpcError(err)
	}
	for _, p := range lost {
		done.Lost = append(done.Lost, &localv1.LostPost{Id: p.ID.String(), CreatedUnixMs: p.Created.UnixMilli(),
			Audience: p.Audience.String(), Summary: p.Summary})
	}
	return stream.Send(done)
}

// firstHelpers is whom to ask for the kit: the friend named in req, else known friends.
func (l *Local) firstHelpers(req *localv1.RecoverRequest) ([]store.Friend, error) {
	if req.GetFromId() != "" {
		k, err := identity.ParseID(req.GetFromId())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		f, err := l.st.Friend(k)
		if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrNotFriend) {
			return nil, grpcError(err)
		}
		f.Key = k
		if req.GetAddress() != "" {
			f.Addr = req.GetAddress()
		}
		// In rendezvous mode the ID is enough: the node finds the friend as it finds any.
		if !l.node.reachable(f) {
			return nil, status.Error(codes.InvalidArgument, "say where that friend is: --addr HOST:PORT (or run the daemon with --rendezvous, where the ID is enough)")
		}
		return []store.Friend{f}, nil
	}
	fs, err := l.st.Friends()
	if err != nil {
		return nil, grpcError(err)
	}
	if len(fs) == 0 {
		return nil, status.Error(codes.InvalidArgument, "no friends known yet: name one to ask with --from ID (and --addr HOST:PORT in direct mode)")
	}
	return fs, nil
}
