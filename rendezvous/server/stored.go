package server

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
)

// Stored records, v3 (issue 14, stop 18). What the server keeps of a verified
// registration is its signature and its payload, not the marshalled envelope: the
// envelope's signer is also the payload's public_key (checked before anything is
// stored), so keeping it twice cost 34 bytes a record, and the envelope's field tags
// a few more. Lookup rebuilds the envelope exactly: signer, payload and signature
// are the bytes that were received and verified.
//
//	byte 0        storedVersion
//	bytes 1..64   the ed25519 signature
//	bytes 65..    the payload, as signed
const (
	storedVersion = 3
	storedHead    = 1 + ed25519.SignatureSize
	// keyField is the number of public_key in every keyed payload (Registration,
	// Auth): the field the signer is read back from.
	keyField protowire.Number = 1
)

// ErrStoredRecord means a stored record cannot be read back: it is damaged, or was
// written by another version of the rendezvous that shares the store.
var ErrStoredRecord = errors.New("stored record is corrupt or was written by another version")

// encodeStored is what is stored of env, a verified registration whose payload names
// its signer. It refuses an envelope that would not read back as itself.
func encodeStored(env *signedv1.Envelope) ([]byte, error) {
	sig, payload := env.GetSignature(), env.GetPayload()
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrStoredRecord, len(sig))
	}
	key, err := payloadKey(payload)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(key, env.GetSigner()) {
		return nil, fmt.Errorf("%w: the payload's key is not the signer", ErrStoredRecord)
	}
	b := make([]byte, 0, storedHead+len(payload))
	b = append(b, storedVersion)
	b = append(b, sig...)
	return append(b, payload...), nil
}

// decodeStored rebuilds the envelope encodeStored kept in b.
func decodeStored(b []byte) (*signedv1.Envelope, error) {
	if len(b) < storedHead || b[0] != storedVersion {
		return nil, fmt.Errorf("%w: no v%d header", ErrStoredRecord, storedVersion)
	}
	payload := b[storedHead:]
	key, err := payloadKey(payload)
	if err != nil {
		return nil, err
	}
	return &signedv1.Envelope{Signer: key, Payload: payload, Signature: b[1:storedHead]}, nil
}

// payloadKey is the public_key a payload names, read as proto.Unmarshal reads it (the
// last occurrence of the field wins), so that it is the key the signer was checked
// against.
func payloadKey(payload []byte) ([]byte, error) {
	var key []byte
	for len(payload) > 0 {
		num, typ, n := protowire.ConsumeField(payload)
		if n < 0 {
			return nil, fmt.Errorf("%w: payload: %v", ErrStoredRecord, protowire.ParseError(n))
		}
		if num == keyField && typ == protowire.BytesType {
			// The field parsed whole, so its tag and value do too.
			_, _, tag := protowire.ConsumeTag(payload)
			key, _ = protowire.ConsumeBytes(payload[tag:n])
		}
		payload = payload[n:]
	}
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: payload key of %d bytes", ErrStoredRecord, len(key))
	}
	return key, nil
}
