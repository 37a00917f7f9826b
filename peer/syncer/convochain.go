package syncer

import (
	"fmt"
	"log/slog"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// servedRevocations are the device revocations a reader checks a conversation's device
// records with (issue 16; docs/DESIGN.md "A joined device speaks for its person in
// conversation"): those it holds itself, and those the host served in this stream,
// each signed by its person's identity. The served ones are used for this fetch only:
// the reader keeps revocations of its friends alone (store.AddRevocation).
type servedRevocations struct {
	held post.Revocations
	of   map[identity.PublicKey][]device.Revocation
}

// take verifies the revocations one message carries; records is how many device
// records the message holds. A person's revocations come in one message of the
// stream, at most store.MaxRevocations per device record of that message.
func (s *servedRevocations) take(envs []*signedv1.Envelope, records int) error {
	if len(envs) > records*store.MaxRevocations {
		return fmt.Errorf("%d revocations beside %d device records", len(envs), records)
	}
	persons := map[identity.PublicKey]bool{}
	for _, env := range envs {
		person, err := identity.PublicKeyFromBytes(env.GetSigner())
		if err != nil {
			return fmt.Errorf("a served revocation: %w", err)
		}
		if _, ok := s.of[person]; ok && !persons[person] {
			return fmt.Errorf("revocations of %s served twice", person.Short())
		}
		r, err := device.OpenRevocation(env, person)
		if err != nil {
			return fmt.Errorf("a served revocation: %w", err)
		}
		persons[person] = true
		s.of[person] = append(s.of[person], r)
	}
	return nil
}

// deviceRecords counts the records of msg that carry a device certificate.
func deviceRecords(msg *syncv1.GetConversationsResponse) int {
	n := 0
	for _, envs := range [][]*signedv1.Envelope{msg.GetReplies(), msg.GetReactions()} {
		for _, env := range envs {
			if env.GetCertificate() != nil {
				n++
			}
		}
	}
	return n
}

// logRevokedRecord says why a reader left out a record of host's post id: a device its
// author revoked signed it at or after the revocation.
func logRevokedRecord(log *slog.Logger, kind string, host identity.PublicKey, id post.ID, env *signedv1.Envelope, err error) {
	if log == nil {
		return
	}
	log.Warn("refused a "+kind+" signed by a revoked device", "host", host.ID(), "post", id.String(),
		"device_key", identity.PublicKey(env.GetSigner()).Short(), "err", err)
}

// revocations is a post.Revocations: the held ones and the served ones of person.
func (s *servedRevocations) revocations(person identity.PublicKey) ([]device.Revocation, error) {
	var out []device.Revocation
	if s.held != nil {
		var err error
		if out, err = s.held(person); err != nil {
			return nil, err
		}
	}
	return append(out, s.of[person]...), nil
}
