package discovery

import (
	"context"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// RequestFriend delivers a signed friend request to peer through the rendezvous, sealed
// to peer like any offer (the rendezvous sees a frame and ciphertext): the way to reach
// someone who has not added us yet, whose node answers no stranger. It returns once
// the rendezvous has handed the offer to peer's Listen stream; a NotFound status means
// peer is not registered there now.
func (c *Client) RequestFriend(ctx context.Context, peer identity.PublicKey, req *signedv1.Envelope) error {
	offer, err := SealOffer(c.cfg.Key, peer, &rendezvousv1.Offer{Kind: rendezvousv1.OfferKind_OFFER_KIND_FRIEND_REQUEST, FriendRequest: req}, c.cfg.Now())
	if err != nil {
		return err
	}
	return c.onAnyServer(ctx, func(ctx context.Context, cl rendezvousv1.RendezvousServiceClient, _ string) error {
		resp, err := cl.Connect(ctx, &rendezvousv1.ConnectRequest{TargetFingerprint: string(peer.Fingerprint()), Offer: offer})
		if err != nil {
			return err
		}
		_, err = verifyRecord(resp.GetRecord(), peer)
		return err
	})
}
