package syncer

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
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
	seen map[string]bool // signatures of the revocations served so far in the stream
}

// take verifies the revocations one message carries. devices are the devices the
// message's device records were signed by, per person (recordDevices): a revocation
// must name one of them, by key or by device id, so a host cannot make a reader check
// signatures nothing asks about, and an honest host serves nothing of a person's
// other devices. Each revocation comes once per stream, at most store.MaxRevocations
// of a person.
func (s *servedRevocations) take(envs []*signedv1.Envelope, devices map[identity.PublicKey][]device.Certificate) error {
	for _, env := range envs {
		person, err := identity.PublicKeyFromBytes(env.GetSigner())
		if err != nil {
			return fmt.Errorf("a served revocation: %w", err)
		}
		devs, ok := devices[person]
		if !ok {
			return fmt.Errorf("a revocation of %s, who signed no device record beside it", person.Short())
		}
		if s.seen[string(env.GetSignature())] {
			return fmt.Errorf("a revocation of %s served twice", person.Short())
		}
		if len(s.of[person]) >= store.MaxRevocations {
			return fmt.Errorf("more than %d revocations of %s", store.MaxRevocations, person.Short())
		}
		r, err := device.OpenRevocation(env, person)
		if err != nil {
			return fmt.Errorf("a served revocation: %w", err)
		}
		if !slices.ContainsFunc(devs, func(c device.Certificate) bool { return c.Key == r.Key || bytes.Equal(c.ID, r.ID) }) {
			return fmt.Errorf("a revocation of a device of %s that signed no record beside it", person.Short())
		}
		s.seen[string(env.GetSignature())] = true
		s.of[person] = append(s.of[person], r)
	}
	return nil
}

// recordDevices are the devices that signed msg's device records (those carrying a
// certificate), per person the payload names as author, read from the payloads and
// certificates before any verification: they only bound which revocations take
// accepts (each of which is verified as the person's); the records and their
// certificates are verified after, and a forged one fails the step.
func recordDevices(msg *syncv1.GetConversationsResponse) map[identity.PublicKey][]device.Certificate {
	out := map[identity.PublicKey][]device.Certificate{}
	add := func(env *signedv1.Envelope, m interface {
		proto.Message
		GetAuthor() []byte
	}) {
		var c rendezvousv1.DeviceCertificate
		if env.GetCertificate() == nil || proto.Unmarshal(env.GetPayload(), m) != nil ||
			proto.Unmarshal(env.GetCertificate().GetPayload(), &c) != nil {
			return
		}
		k, err := identity.PublicKeyFromBytes(m.GetAuthor())
		if err != nil {
			return
		}
		if key, err := identity.PublicKeyFromBytes(c.GetDeviceKey()); err == nil {
			out[k] = append(out[k], device.Certificate{Identity: k, Key: key, ID: c.GetDeviceId()})
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
