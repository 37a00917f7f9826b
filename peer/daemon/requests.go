package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/syncer"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// introduce sends f our signed friend request once, so that someone we added sees who
// asks and may add us back. Once f answers that they count us as a friend, nothing more
// is sent. Failures are only logged: the next connection tries again.
func (n *Node) introduce(ctx context.Context, c syncv1.SyncServiceClient, f store.Friend) {
	state, err := n.st.RequestState(f.Key)
	if err != nil || state != "" {
		return
	}
	g, err := n.st.Signer()
	if err != nil {
		return
	}
	name, _ := n.st.Name()
	req, err := syncer.SignFriendRequestAs(g.Key, g.Person, g.Certificate, f.Key, name, n.advertised(), time.Now())
	if err != nil {
		n.log.Warn("sign a friend request", "err", err)
		return
	}
	resp, err := c.RequestFriendship(ctx, req)
	if err != nil {
		n.log.Info("could not deliver a friend request yet", "friend", f.Key.ID(), "err", err)
		return
	}
	if err := n.st.SetRequestState(f.Key, resp.GetAlreadyFriends()); err != nil {
		n.log.Warn("note a friend request", "err", err)
	}
}

// takeFriendRequest keeps a friend request that came sealed through the rendezvous
// (onOffer), under the same checks and bounds as one handed over directly; the offer's
// signer (from: a device's key for a device) must be the request's. Refusals are only logged: the rendezvous waits for no
// answer, and the sender learns nothing it could probe with.
func (n *Node) takeFriendRequest(from identity.PublicKey, env *signedv1.Envelope) {
	if _, err := n.ssrv.TakeFriendRequest(from, &syncv1.RequestFriendshipRequest{Request: env}); err != nil {
		n.log.Info("refused a friend request that came through the rendezvous", "from", from.ID(), "err", err)
		return
	}
	n.log.Info("took a friend request through the rendezvous", "from", from.ID())
}

// unanswered explains a failed connection to f when the reason is most likely that f
// has not added us yet, a node answering no stranger. In rendezvous mode it first hands
// f our signed request through the rendezvous (once: the request is then "sent"), so f
// sees it without any address; then it says so, rather than "no direct path", which
// hides the reason. The error underneath goes to the log.
func (n *Node) unanswered(ctx context.Context, f store.Friend, err error) error {
	if !n.reach.Rendezvous() || ctx.Err() != nil {
		return err
	}
	state, serr := n.st.RequestState(f.Key)
	if serr != nil || state == "friends" {
		return err
	}
	if state == "" {
		g, kerr := n.st.Signer()
		if kerr != nil {
			return err
		}
		name, _ := n.st.Name()
		req, rerr := syncer.SignFriendRequestAs(g.Key, g.Person, g.Certificate, f.Key, name, "", time.Now())
		if rerr != nil {
			return err
		}
		if rerr := n.reach.RequestFriend(ctx, f.Key, req.GetRequest()); rerr != nil {
			n.log.Info("could not hand a friend request to the rendezvous", "friend", f.Key.ID(), "err", rerr)
			return err
		}
		if serr := n.st.SetRequestState(f.Key, false); serr != nil {
			return err
		}
	}
	n.log.Info("a friend who has not added us back did not answer", "friend", f.Key.ID(), "err", err)
	return fmt.Errorf("%w: %s did not answer, most likely because they have not added you yet: your friend request went to them through the rendezvous, and you sync once they accept it ('kith friend requests' on their side)", ErrNotAddedBack, friendName(f))
}

// ErrNotAddedBack means a friend's node did not answer while our friend request to them
// is open: most likely they have not added us yet.
var ErrNotAddedBack = errors.New("not added back")

// answeredAsFriend notes, after a sync, that f's node answered us as a friend: a request
// sent through the rendezvous has done its work, and a later failure is a network's.
func (n *Node) answeredAsFriend(f store.Friend, res syncer.Result) {
	if res.Stranger {
		return
	}
	if state, err := n.st.RequestState(f.Key); err == nil && state == "sent" {
		if err := n.st.SetRequestState(f.Key, true); err != nil {
			n.log.Warn("note a friend request answered", "err", err)
		}
	}
}

// advertised is the address a friend request gives: the node's listening address when it
// names a host (direct mode), else nothing (the friend finds us through a rendezvous).
func (n *Node) advertised() string {
	if n.reach.Rendezvous() {
		return ""
	}
	a, ok := n.Addr().(*net.UDPAddr)
	if !ok || a.IP.IsUnspecified() {
		return ""
	}
	return a.String()
}

// FriendRequests lists pending friend requests, newest first.
func (c *Conversation) FriendRequests(ctx context.Context, _ *localv1.FriendRequestsRequest) (*localv1.FriendRequestsResponse, error) {
	rs, err := c.l.st.FriendRequests()
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &localv1.FriendRequestsResponse{}
	for _, r := range rs {
		resp.Requests = append(resp.Requests, &localv1.FriendRequest{Id: string(r.From.ID()), Name: r.Name, Address: r.Addr, CreatedUnixMs: r.Created.UnixMilli()})
	}
	return resp, nil
}

// AnswerFriendRequest accepts (adds the requester as a friend) or ignores a request.
func (c *Conversation) AnswerFriendRequest(ctx context.Context, req *localv1.AnswerFriendRequestRequest) (*localv1.AnswerFriendRequestResponse, error) {
	rs, err := c.l.st.FriendRequests()
	if err != nil {
		return nil, grpcError(err)
	}
	who := strings.TrimSpace(req.GetWho())
	var match []store.FriendRequest
	for _, r := range rs {
		if string(r.From.ID()) == who || strings.EqualFold(r.Name, who) {
			match = append(match, r)
		}
	}
	switch {
	case len(match) == 0:
		return nil, status.Errorf(codes.NotFound, "no pending friend request from %q (see kith friend requests)", who)
	case len(match) > 1:
		return nil, status.Errorf(codes.InvalidArgument, "%d requests are from someone called %q; use their ID", len(match), who)
	}
	r := match[0]
	if !req.GetAccept() {
		if err := c.l.st.DropFriendRequest(r.From); err != nil {
			return nil, grpcError(err)
		}
		return &localv1.AnswerFriendRequestResponse{Id: string(r.From.ID()), Name: r.Name}, nil
	}
	f, err := c.l.st.AcceptFriendRequest(r.From, r.Name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, grpcError(err)
	}
	c.l.node.Wake()
	return &localv1.AnswerFriendRequestResponse{Id: string(f.Key.ID()), Name: f.Name}, nil
}

// friendName names a friend for a person: "Bob (ID)", or the ID alone.
func friendName(f store.Friend) string {
	if f.Name == "" {
		return string(f.Key.ID())
	}
	return f.Name + " (" + string(f.Key.ID()) + ")"
}
