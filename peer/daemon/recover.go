package daemon

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/recovery"
	"github.com/kithnet/kith/peer/store"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Recover brings a person back after a lost disk: it asks one friend (from_id at address,
// or each known friend in turn) for the person's recovery kit and own posts, restores the
// friend list from the kit, then asks every friend in it for the person's posts. Every
// post is verified against the person's own key before it is stored.
func (l *Local) Recover(req *localv1.RecoverRequest, stream localv1.LocalService_RecoverServer) error {
	ctx := stream.Context()
	key, err := l.st.Key()
	if err != nil {
		return grpcError(err)
	}
	first, err := l.firstHelpers(req)
	if err != nil {
		return err
	}
	var kit *recovery.Kit
	asked := map[identity.PublicKey]bool{}
	total := 0
	for _, f := range first {
		asked[f.Key] = true
		n, env, err := l.node.Recover(ctx, f)
		msg := &localv1.RecoverResponse{FriendId: string(f.Key.ID()), Posts: uint32(n)}
		if err != nil {
			msg.Error = err.Error()
			if serr := stream.Send(msg); serr != nil {
				return serr
			}
			continue
		}
		total += n
		if env != nil && kit == nil {
			k, err := recovery.Open(env, key)
			if err != nil {
				msg.Error = fmt.Sprintf("its recovery kit was rejected: %v", err)
			} else {
				kit = &k
				msg.Friends = uint32(len(k.Friends))
				if err := l.restoreFriends(k, f); err != nil {
					return grpcError(err)
				}
			}
		}
		if serr := stream.Send(msg); serr != nil {
			return serr
		}
		if kit != nil {
			break
		}
	}
	if kit != nil {
		for _, kf := range kit.Friends {
			if asked[kf.Key] {
				continue
			}
			asked[kf.Key] = true
			f := store.Friend{Key: kf.Key, Name: kf.Name, Addr: kf.Addr, Groups: kf.Groups}
			n, _, err := l.node.Recover(ctx, f)
			msg := &localv1.RecoverResponse{FriendId: string(kf.Key.ID()), Posts: uint32(n)}
			if err != nil {
				msg.Error = err.Error()
			}
			total += n
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
	}
	friends, _ := l.st.Friends()
	return stream.Send(&localv1.RecoverResponse{Done: true, Posts: uint32(total), Friends: uint32(len(friends))})
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

// restoreFriends adds the kit's friends (and the helper, who is a friend by definition)
// without overwriting entries the person has made since.
func (l *Local) restoreFriends(k recovery.Kit, helper store.Friend) error {
	if k.Name != "" {
		if cur, _ := l.st.Name(); cur == "" {
			if err := l.st.SetName(k.Name); err != nil {
				return err
			}
		}
	}
	for _, kf := range k.Friends {
		f := store.Friend{Key: kf.Key, Name: kf.Name, Addr: kf.Addr, Groups: kf.Groups}
		if kf.Key == helper.Key && helper.Addr != "" {
			f.Addr = helper.Addr // the address that just worked beats the one in the kit
		}
		if _, err := l.st.Friend(kf.Key); err == nil {
			continue
		}
		for _, g := range f.Groups {
			if err := l.st.AddGroup(g); err != nil {
				return err
			}
		}
		if err := l.st.PutFriend(f); err != nil {
			return err
		}
	}
	l.node.Wake()
	return nil
}
