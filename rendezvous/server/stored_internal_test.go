package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous/store"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// storedReg is a signed registration of k with sealed candidates, as a peer sends it.
func storedReg(t *testing.T, k *identity.Key) *signedv1.Envelope {
	t.Helper()
	return sealT(t, k, identity.ContextRegistration, &rendezvousv1.Registration{
		PublicKey: k.Public().Bytes(), TimestampUnixMs: time.Now().UnixMilli(), TtlSeconds: 600,
		Version: rendezvousv1.RecordVersion_RECORD_VERSION_2, Server: "kith-load",
		Reachability: &rendezvousv1.SealedReachability{Nonce: make([]byte, 24), Ciphertext: make([]byte, 92)},
	})
}

// withKeys is a payload whose public_key fields are keys, in order, then the rest of
// a registration.
func withKeys(keys ...[]byte) []byte {
	var b []byte
	for _, k := range keys {
		b = protowire.AppendTag(b, keyField, protowire.BytesType)
		b = protowire.AppendBytes(b, k)
	}
	b = protowire.AppendTag(b, 6, protowire.BytesType)
	return protowire.AppendString(b, "kith-load")
}

func TestStoredRoundTrip(t *testing.T) {
	k := keyT(t)
	env := storedReg(t, k)
	env.Certificate = storedReg(t, keyT(t)) // not signed over, never stored
	b, err := encodeStored(env)
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := proto.Marshal(&signedv1.Envelope{Signer: env.Signer, Payload: env.Payload, Signature: env.Signature})
	if want := len(whole) - 34 - 4; len(b) > want {
		t.Errorf("stored %d bytes; want at most %d (the envelope less the signer and its tags)", len(b), want)
	}
	got, err := decodeStored(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &signedv1.Envelope{Signer: env.Signer, Payload: env.Payload, Signature: env.Signature}
	if !proto.Equal(got, want) {
		t.Fatalf("read back %v; want %v", got, want)
	}
	if signer, err := signed.Verify(got, identity.ContextRegistration, 4096); err != nil || signer != k.Public() {
		t.Fatalf("read-back record verifies as %s, %v; want %s", signer.Short(), err, k.Public().Short())
	}
}

// TestStoredKeyLastWins: the signer read back is the key proto.Unmarshal sees, the last
// public_key field, which the server compared with the signer.
func TestStoredKeyLastWins(t *testing.T) {
	k, other := keyT(t), keyT(t)
	sig := bytes.Repeat([]byte{7}, 64)
	last := &signedv1.Envelope{Signer: k.Public().Bytes(), Payload: withKeys(other.Public().Bytes(), k.Public().Bytes()), Signature: sig}
	var reg rendezvousv1.Registration
	if err := proto.Unmarshal(last.Payload, &reg); err != nil || !bytes.Equal(reg.PublicKey, k.Public().Bytes()) {
		t.Fatalf("fixture: proto reads key %x, %v", reg.PublicKey, err)
	}
	b, err := encodeStored(last)
	if err != nil {
		t.Fatalf("payload whose last key is the signer: %v", err)
	}
	got, err := decodeStored(b)
	if err != nil || !bytes.Equal(got.Signer, k.Public().Bytes()) {
		t.Fatalf("read back signer %x, %v; want %x", got.GetSigner(), err, k.Public().Bytes())
	}
	first := &signedv1.Envelope{Signer: k.Public().Bytes(), Payload: withKeys(k.Public().Bytes(), other.Public().Bytes()), Signature: sig}
	if _, err := encodeStored(first); !errors.Is(err, ErrStoredRecord) {
		t.Fatalf("payload whose last key is another: %v; want ErrStoredRecord", err)
	}
}

func TestStoredRefuses(t *testing.T) {
	k := keyT(t)
	pk := k.Public().Bytes()
	good := storedReg(t, k)
	sig := good.Signature
	for _, tc := range []struct {
		name string
		env  *signedv1.Envelope
	}{
		{"short signature", &signedv1.Envelope{Signer: pk, Payload: good.Payload, Signature: sig[:63]}},
		{"long signature", &signedv1.Envelope{Signer: pk, Payload: good.Payload, Signature: append(bytes.Clone(sig), 0)}},
		{"payload names another key", &signedv1.Envelope{Signer: pk, Payload: withKeys(keyT(t).Public().Bytes()), Signature: sig}},
		{"payload names no key", &signedv1.Envelope{Signer: pk, Payload: withKeys(), Signature: sig}},
		{"payload key of 31 bytes", &signedv1.Envelope{Signer: pk[:31], Payload: withKeys(pk[:31]), Signature: sig}},
		{"payload key of 33 bytes", &signedv1.Envelope{Signer: append(bytes.Clone(pk), 0), Payload: withKeys(append(bytes.Clone(pk), 0)), Signature: sig}},
		{"truncated payload", &signedv1.Envelope{Signer: pk, Payload: good.Payload[:len(good.Payload)-1], Signature: sig}},
		{"payload key truncated", &signedv1.Envelope{Signer: pk, Payload: withKeys(pk)[:20], Signature: sig}},
		{"bad tag", &signedv1.Envelope{Signer: pk, Payload: append(withKeys(pk), 0x80), Signature: sig}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := encodeStored(tc.env); !errors.Is(err, ErrStoredRecord) {
				t.Fatalf("encode = %x, %v; want ErrStoredRecord", b, err)
			}
		})
	}
	b, err := encodeStored(good)
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := proto.Marshal(good)
	wrongVersion := bytes.Clone(b)
	wrongVersion[0] = 2
	for _, tc := range []struct {
		name, why string
		b         []byte
	}{
		{"empty", "no v3 header", nil},
		{"header only, one byte short", "no v3 header", b[:storedHead-1]},
		{"other version", "no v3 header", wrongVersion},
		{"a marshalled envelope (layout v2)", "no v3 header", v2},
		{"payload cut in its key", "payload: unexpected EOF", b[:storedHead+10]},
		{"header and no payload", "payload key of 0 bytes", b[:storedHead]},
	} {
		t.Run("decode "+tc.name, func(t *testing.T) {
			env, err := decodeStored(tc.b)
			if !errors.Is(err, ErrStoredRecord) || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("decode = %v, %v; want ErrStoredRecord, %q", env, err, tc.why)
			}
		})
	}
}

func FuzzDecodeStored(f *testing.F) {
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	env, err := signed.Seal(k, identity.ContextRegistration, &rendezvousv1.Registration{PublicKey: k.Public().Bytes(), Server: "x"})
	if err != nil {
		f.Fatal(err)
	}
	b, err := encodeStored(env)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{storedVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := decodeStored(b)
		if err != nil {
			return
		}
		// Whatever reads back encodes to the same bytes.
		again, err := encodeStored(env)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("read back %v re-encodes to %x, %v; want %x", env, again, err, b)
		}
	})
}

// TestStoredCorruptIsInternal: a stored value this version cannot read (another
// version's, or damaged) fails Lookup and LookupMany as Internal, not as a retryable
// store outage, and nothing is returned.
func TestStoredCorruptIsInternal(t *testing.T) {
	st := store.NewMemory(time.Now)
	t.Cleanup(func() { _ = st.Close() })
	s := newT(t, Config{Store: st})
	k := keyT(t)
	fp := k.Public().Fingerprint()
	v2, _ := proto.Marshal(storedReg(t, k)) // what layout v2 stored
	if err := st.Put(context.Background(), fp, store.Record{Envelope: v2, TimestampMs: 1}, time.Minute); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Lookup(context.Background(), &rendezvousv1.LookupRequest{Fingerprint: string(fp)})
	if st, reason := Status(err); st.Code() != codes.Internal || reason != "stored_record" || resp != nil {
		t.Fatalf("Lookup = %v, %v (%q); want Internal, stored_record", resp, st, reason)
	}
	many, err := s.LookupMany(context.Background(), &rendezvousv1.LookupManyRequest{Fingerprints: []string{string(fp)}})
	if st, reason := Status(err); st.Code() != codes.Internal || reason != "stored_record" || many != nil {
		t.Fatalf("LookupMany = %v, %v (%q); want Internal, stored_record", many, st, reason)
	}
}
