package daemon_test

import "testing"

// A node tells a puller it is not (or no longer) a friend, and only then: a friend's pull
// is not marked, a removed friend's next pull is, and a node's own key never is.
func TestPullSaysWhenRemoved(t *testing.T) {
	alice, bob := newPeer(t, "alice"), newPeer(t, "bob")
	befriend(t, alice, bob)
	befriend(t, bob, alice)
	if res := bob.sync(t, alice); res.Stranger {
		t.Fatal("a friend's pull was answered as a stranger's")
	}
	if err := alice.st.RemoveFriend(bob.pub()); err != nil {
		t.Fatal(err)
	}
	if res := bob.sync(t, alice); !res.Stranger {
		t.Fatal("after alice removed bob, bob's pull was not told he is a stranger now")
	}
	carol := newPeer(t, "carol")
	befriend(t, carol, alice) // carol follows alice, who never added her
	if res := carol.sync(t, alice); !res.Stranger {
		t.Fatal("a stranger's pull was not told it is one")
	}
}
