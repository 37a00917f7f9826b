package store

import (
	"fmt"
	"net/netip"

	bolt "go.etcd.io/bbolt"

	"github.com/kithnet/kith/shared/identity"
)

// metaLastPath prefixes the last direct address that carried a connection to a
// friend, so the node can redial it with the rendezvous unreachable (issue 20).
var metaLastPath = []byte("pathof/") // || friend key -> "ip:port"

func lastPathKey(k identity.PublicKey) []byte {
	return append(append([]byte(nil), metaLastPath...), k[:]...)
}

// SetLastPath keeps addr as the last direct address that carried a connection to
// friend k; only friends' addresses are kept (removing the friend forgets it).
func (s *Store) SetLastPath(k identity.PublicKey, addr netip.AddrPort) error {
	if !addr.IsValid() {
		return fmt.Errorf("last path of %s: invalid address", k.Short())
	}
	return s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bFriends).Get(k[:]) == nil {
			return fmt.Errorf("last path of %s: %w", k.Short(), ErrNotFriend)
		}
		return tx.Bucket(bMeta).Put(lastPathKey(k), []byte(addr.String()))
	})
}

// LastPath is the last direct address that carried a connection to friend k; false
// when none is known.
func (s *Store) LastPath(k identity.PublicKey) (netip.AddrPort, bool) {
	var a netip.AddrPort
	_ = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bFriends).Get(k[:]) == nil {
			return nil
		}
		a, _ = netip.ParseAddrPort(string(tx.Bucket(bMeta).Get(lastPathKey(k))))
		return nil
	})
	return a, a.IsValid()
}
