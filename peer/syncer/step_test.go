package syncer

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
)

// FuzzParseChanges: never panics; an accepted step never moves the cursor back, names
// each post to fetch once, and every entry it took lies in (since, cursor].
func FuzzParseChanges(f *testing.F) {
	ok, _ := proto.Marshal(&syncv1.ChangesResponse{LastSeq: 3, Changes: []*syncv1.Change{
		{Seq: 2, Kind: syncv1.ChangeKind_CHANGE_KIND_POST, PostId: make([]byte, 16)},
		{Seq: 3, Kind: syncv1.ChangeKind_CHANGE_KIND_REVOKED, PostId: make([]byte, 16)}}})
	f.Add(uint64(1), ok)
	f.Add(uint64(5), ok)
	f.Fuzz(func(t *testing.T, since uint64, data []byte) {
		var resp syncv1.ChangesResponse
		if proto.Unmarshal(data, &resp) != nil {
			return
		}
		st, err := ParseChanges(since, &resp)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			return
		}
		if st.Cursor < since {
			t.Fatalf("cursor %d moved back from %d", st.Cursor, since)
		}
		seen := map[[16]byte]bool{}
		for _, id := range st.Fetch {
			if seen[id] {
				t.Fatalf("post %s to fetch twice", id)
			}
			seen[id] = true
		}
		for _, ch := range resp.GetChanges() {
			if ch.GetSeq() <= since || ch.GetSeq() > st.Cursor {
				t.Fatalf("accepted entry %d outside (%d, %d]", ch.GetSeq(), since, st.Cursor)
			}
		}
	})
}

// TestParseChangesBounds: entries must lie in (since, last_seq], both ends exact.
func TestParseChangesBounds(t *testing.T) {
	id := make([]byte, 16)
	for _, tc := range []struct {
		seq uint64
		ok  bool
	}{{5, false}, {6, true}, {9, true}, {10, false}} {
		_, err := ParseChanges(5, &syncv1.ChangesResponse{LastSeq: 9, Changes: []*syncv1.Change{{Seq: tc.seq, PostId: id, Kind: syncv1.ChangeKind_CHANGE_KIND_POST}}})
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrProtocol)) {
			t.Errorf("entry %d since 5, last 9: %v, want ok %v", tc.seq, err, tc.ok)
		}
	}
}
