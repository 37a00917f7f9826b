package device

import (
	"testing"
	"time"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
)

// FuzzOpen feeds arbitrary payloads, signed by the person, to the certificate and
// revocation openers: they must never panic, and whatever they accept must name the
// person and a well-formed device.
func FuzzOpen(f *testing.F) {
	person, err := identity.FromSeed(make([]byte, 32))
	if err != nil {
		f.Fatal(err)
	}
	dev, _ := identity.FromSeed(append(make([]byte, 31), 1))
	good, _ := Issue(person, dev.Public(), []byte("laptop01"), time.UnixMilli(0), time.Hour)
	f.Add(good.GetPayload())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, ctx := range []identity.Context{identity.ContextDeviceCertificate, identity.ContextDeviceRevocation} {
			env := &signedv1.Envelope{Signer: person.Public().Bytes(), Payload: payload, Signature: person.Sign(ctx, payload)}
			if c, err := Open(env, person.Public()); err == nil {
				if c.Identity != person.Public() || len(c.ID) != IDLen || !c.NotAfter.After(c.NotBefore) {
					t.Fatalf("accepted a malformed certificate: %+v", c)
				}
			}
			if r, err := OpenRevocation(env, person.Public()); err == nil {
				if r.Identity != person.Public() || len(r.ID) != IDLen {
					t.Fatalf("accepted a malformed revocation: %+v", r)
				}
			}
		}
	})
}
