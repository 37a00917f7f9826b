package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/shared/identity"
)

var (
	bRequests = []byte("friendreqs")    // requester key(32) -> JSON FriendRequest
	bReqSent  = []byte("friendreqsent") // friend key(32) -> 's' sent, 'a' they count us as a friend
)

// MaxFriendRequests bounds the pending friend requests kept; more are refused until the
// person answers some.
const MaxFriendRequests = 200

// ErrTooManyRequests means the pending friend requests are at their limit.
var ErrTooManyRequests = errors.New("too many pending friend requests")

// FriendRequest is a signed request someone sent (verified by the caller).
type FriendRequest struct {
	From    identity.PublicKey `json:"from"`
	Name    string             `json:"name"`
	Addr    string             `json:"addr"`
	Created time.Time          `json:"created"`
}

// PutFriendRequest keeps a friend request, replacing an older one from the same person.
// A request from someone who is already a friend keeps nothing and reports already.
func (s *Store) PutFriendRequest(r FriendRequest) (already bool, err error) {
	if err := CheckFriend(Friend{Key: r.From, Name: r.Name, Addr: r.Addr}); err != nil {
		return false, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bFriends).Get(r.From[:]) != nil {
			already = true
			return nil
		}
		b := tx.Bucket(bRequests)
		old := b.Get(r.From[:])
		if old != nil {
			var o FriendRequest
			if json.Unmarshal(old, &o) == nil && !r.Created.After(o.Created) {
				return nil
			}
		} else if b.Stats().KeyN >= MaxFriendRequests {
			return ErrTooManyRequests
		}
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := b.Put(r.From[:], v); err != nil {
			return err
		}
		if old != nil {
			return nil
		}
		return s.addNote(tx, Note{Kind: NoteFriendRequest, From: r.From, Text: r.Name})
	})
	return already, err
}

// FriendRequests returns the pending requests, newest first: those from people who are
// not friends (someone added since asked is answered).
func (s *Store) FriendRequests() ([]FriendRequest, error) {
	var out []FriendRequest
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bRequests).ForEach(func(k, v []byte) error {
			if tx.Bucket(bFriends).Get(k) != nil {
				return nil
			}
			var r FriendRequest
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("friend request %x: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b FriendRequest) int { return b.Created.Compare(a.Created) })
	return out, err
}

// DropFriendRequest forgets a pending request.
func (s *Store) DropFriendRequest(k identity.PublicKey) error {
	return s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bRequests).Get(k[:]) == nil {
			return fmt.Errorf("friend request from %s: %w", k.Short(), ErrNotFound)
		}
		return tx.Bucket(bRequests).Delete(k[:])
	})
}

// AcceptFriendRequest makes the requester a friend (under name, at the address they
// gave), then forgets the request (a crash in between leaves a friend and a stale
// request, which accepting again clears).
func (s *Store) AcceptFriendRequest(k identity.PublicKey, name string) (Friend, error) {
	var f Friend
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bRequests).Get(k[:])
		if v == nil {
			return fmt.Errorf("friend request from %s: %w", k.Short(), ErrNotFound)
		}
		var r FriendRequest
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		f = Friend{Key: k, Name: name, Addr: r.Addr}
		return nil
	})
	if err != nil {
		return f, err
	}
	if err := s.PutFriend(f); err != nil {
		return f, err
	}
	return f, s.DropFriendRequest(k)
}

// RequestState says what this node knows of its request to a friend: "" never sent,
// "sent", or "friends" (they count us as a friend: nothing more to send).
func (s *Store) RequestState(k identity.PublicKey) (string, error) {
	var st string
	err := s.db.View(func(tx *bolt.Tx) error {
		// An if per state, not a tagless switch, so that gremlins can see them tested.
		v := tx.Bucket(bReqSent).Get(k[:])
		if len(v) == 1 && v[0] == 'a' {
			st = "friends"
		}
		if len(v) == 1 && v[0] == 's' {
			st = "sent"
		}
		return nil
	})
	return st, err
}

// SetRequestState records what a friend answered to our request.
func (s *Store) SetRequestState(k identity.PublicKey, friends bool) error {
	v := []byte{'s'}
	if friends {
		v[0] = 'a'
	}
	return s.update(func(tx *bolt.Tx) error { return tx.Bucket(bReqSent).Put(k[:], v) })
}
