// Package recovery seals and opens recovery kits: a person's friend list, encrypted to
// their own key and signed by it, that each of their friends keeps. With only their key,
// a person who lost everything gets the kit back from any friend and so finds the others.
package recovery

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
	"google.golang.org/protobuf/proto"

	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/signed"
)

// Errors a caller may test for.
var (
	// ErrNotOwner means a kit is signed by, or belongs to, someone other than expected.
	ErrNotOwner = errors.New("recovery kit belongs to someone else")
	// ErrUnreadable means a kit verifies but does not decrypt with the owner's key.
	ErrUnreadable = errors.New("recovery kit does not decrypt with this key")
)

// maxContents bounds a kit's plaintext: a few thousand friends fit easily.
const maxContents = 1 << 20

// Friend is one friend in a kit.
type Friend struct {
	Key    identity.PublicKey
	Name   string
	Addr   string
	Groups []string
}

// Kit is what a person needs to find their friends again.
type Kit struct {
	// Name is the person's display name.
	Name string
	// Friends are the person's friends.
	Friends []Friend
	// Created is when the kit was sealed; a holder keeps the newest.
	Created time.Time
}

// Seal encrypts kit to k's own key and signs it with k.
func Seal(k *identity.Key, kit Kit) (*signedv1.Envelope, error) {
	contents := &syncv1.RecoveryKitContents{Name: kit.Name}
	for _, f := range kit.Friends {
		contents.Friends = append(contents.Friends, &syncv1.KitFriend{Key: f.Key.Bytes(), Name: f.Name, Address: f.Addr, Groups: f.Groups})
	}
	plain, err := proto.Marshal(contents)
	if err != nil {
		return nil, fmt.Errorf("seal recovery kit: %w", err)
	}
	sshKey, err := ssh.NewPublicKey(ed25519.PublicKey(k.Public().Bytes()))
	if err != nil {
		return nil, fmt.Errorf("seal recovery kit: %w", err)
	}
	r, err := agessh.NewEd25519Recipient(sshKey)
	if err != nil {
		return nil, fmt.Errorf("seal recovery kit: %w", err)
	}
	var ct bytes.Buffer
	w, err := age.Encrypt(&ct, r)
	if err != nil {
		return nil, fmt.Errorf("seal recovery kit: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("seal recovery kit: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("seal recovery kit: %w", err)
	}
	return signed.Seal(k, identity.ContextRecoveryKit, &syncv1.RecoveryKit{
		Owner: k.Public().Bytes(), CreatedUnixMs: kit.Created.UnixMilli(), Ciphertext: ct.Bytes()})
}

// Verify checks that env is a kit signed by owner, without reading it: what a holder does
// before keeping a friend's kit. It returns the kit's creation time.
func Verify(env *signedv1.Envelope, owner identity.PublicKey) (time.Time, *syncv1.RecoveryKit, error) {
	var rk syncv1.RecoveryKit
	if err := signed.OpenFrom(env, identity.ContextRecoveryKit, owner, &rk); err != nil {
		return time.Time{}, nil, fmt.Errorf("%w: %v", ErrNotOwner, err)
	}
	if err := signed.CheckKeyField(owner, rk.GetOwner()); err != nil {
		return time.Time{}, nil, fmt.Errorf("%w: %v", ErrNotOwner, err)
	}
	return time.UnixMilli(rk.GetCreatedUnixMs()), &rk, nil
}

// Open verifies that env is k's own kit and decrypts it with k.
func Open(env *signedv1.Envelope, k *identity.Key) (Kit, error) {
	created, rk, err := Verify(env, k.Public())
	if err != nil {
		return Kit{}, err
	}
	id, err := agessh.NewEd25519Identity(k.PrivateKey())
	if err != nil {
		return Kit{}, fmt.Errorf("open recovery kit: %w", err)
	}
	r, err := age.Decrypt(bytes.NewReader(rk.GetCiphertext()), id)
	if err != nil {
		return Kit{}, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxContents+1))
	if err != nil || len(plain) > maxContents {
		return Kit{}, fmt.Errorf("%w: damaged or too large", ErrUnreadable)
	}
	var contents syncv1.RecoveryKitContents
	if err := proto.Unmarshal(plain, &contents); err != nil {
		return Kit{}, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	kit := Kit{Name: contents.GetName(), Created: created}
	for _, f := range contents.GetFriends() {
		key, err := identity.PublicKeyFromBytes(f.GetKey())
		if err != nil {
			return Kit{}, fmt.Errorf("%w: friend: %v", ErrUnreadable, err)
		}
		kit.Friends = append(kit.Friends, Friend{Key: key, Name: f.GetName(), Addr: f.GetAddress(), Groups: f.GetGroups()})
	}
	return kit, nil
}
