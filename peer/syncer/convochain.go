package syncer

import (
	"fmt"
	"log/slog"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
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

// take verifies the revocations one message carries. authors are the persons the
// message's device records name (deviceAuthors): a revocation must be one of theirs, so
// a host cannot make a reader check signatures of persons nothing asks about. A person's
// revocations come in one message of the stream, at most store.MaxRevocations of them.
func (s *servedRevocations) take(envs []*signedv1.Envelope, authors map[identity.PublicKey]bool) error {
	persons := map[identity.PublicKey]bool{}
	for _, env := range envs {
		person, err := identity.PublicKeyFromBytes(env.GetSigner())
		if err != nil {
			return fmt.Errorf("a served revocation: %w", err)
		}
		if !authors[person] {
			return fmt.Errorf("a revocation of %s, who signed no device record beside it", person.Short())
		}
		if _, ok := s.of[person]; ok && !persons[person] {
			return fmt.Errorf("revocations of %s served twice", person.Short())
		}
		if len(s.of[person]) >= store.MaxRevocations {
			return fmt.Errorf("more than %d revocations of %s", store.MaxRevocations, person.Short())
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

// deviceAuthors are the persons the device records (those carrying a certificate) of
// msg name as their authors, read from the payloads before any verification: they
// only bound which revocations take checks, the records are verified after.
func deviceAuthors(msg *syncv1.GetConversationsResponse) map[identity.PublicKey]bool {
	out := map[identity.PublicKey]bool{}
	add := func(env *signedv1.Envelope, m interface {
		proto.Message
		GetAuthor() []byte
	}) {
		if env.GetCertificate() == nil || proto.Unmarshal(env.GetPayload(), m) != nil {
			return
		}
		if k, err := identity.PublicKeyFromBytes(m.GetAuthor()); err == nil {
			out[k] = true
		}
	}
	for _, env := range msg.GetReplies() {
		add(env, new(postv1.Reply))
	}
	for _, env := range msg.GetReactions() {
		add(env, new(postv1.Reaction))
	}
	return out
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
