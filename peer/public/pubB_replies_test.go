package public_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/identity"
	"google.golang.org/protobuf/proto"
)

// replySource is the fixture's Source serving replies too, as the daemon's does, and
// returning whatever it is given: a faulty one's mistakes included.
type replySource struct {
	*publictest.Memory
	replies map[public.PostID][]*signedv1.Envelope
	err     error
}

func (s replySource) PublicReplies(_ context.Context, id public.PostID) ([]*signedv1.Envelope, error) {
	if s.err != nil {
		return nil, s.err
	}
	return s.replies[id], nil
}

// replyFixture is the fixture with replies to its post pubA: two public ones (Carol's
// written first, Bob's after) and, returned by a faulty Source, replies no stranger may
// see, each carrying a HIDDEN- text.
type replyFixture struct {
	*fixture
	bob, carol       *identity.Key
	bobReply, carolR *post.ID
	replies          map[public.PostID][]*signedv1.Envelope
	hiddenIDs        []string // the ids of the replies that must not show
}

func newReplyFixture(t *testing.T) *replyFixture {
	t.Helper()
	f := newFixture(t, public.Config{PageSize: 10})
	rf := &replyFixture{fixture: f, bob: newKey(t), carol: newKey(t), replies: map[public.PostID][]*signedv1.Envelope{}}
	alice := f.key.Public()
	pubA, pubB := post.ID(f.pubA.GetId()), post.ID(f.pubB.GetId())
	at := func(ms int64) time.Time { return time.UnixMilli(t0 + ms) }
	bobEnv, bobR := sealReply(t, rf.bob, post.ReplyDraft{Now: at(20_000), PostAuthor: alice, PostID: pubA, Text: "REPLY-BOB a public reply", Public: true})
	carolEnv, carolR := sealReply(t, rf.carol, post.ReplyDraft{Now: at(10_000), PostAuthor: alice, PostID: pubA, Text: "REPLY-CAROL written first", Public: true})
	rf.bobReply, rf.carolR = &bobR, &carolR
	hidden := []post.ReplyDraft{
		{Now: at(11_000), PostAuthor: alice, PostID: pubA, Text: "HIDDEN-PRIVATE for friends", Public: false},
		{Now: at(12_000), PostAuthor: alice, PostID: pubA, Public: true, Deleted: true},
		{Now: at(13_000), PostAuthor: alice, PostID: pubB, Text: "HIDDEN-OTHERPOST answers pubB", Public: true},
		{Now: at(14_000), PostAuthor: rf.carol.Public(), PostID: pubA, Text: "HIDDEN-OTHERHOST answers Carol's post", Public: true},
	}
	envs := []*signedv1.Envelope{bobEnv}
	for _, d := range hidden {
		env, id := sealReply(t, rf.bob, d)
		envs = append(envs, env)
		rf.hiddenIDs = append(rf.hiddenIDs, hex.EncodeToString(id[:]))
	}
	forged, forgedID := sealReply(t, rf.bob, post.ReplyDraft{Now: at(15_000), PostAuthor: alice, PostID: pubA, Text: "HIDDEN-FORGED not signed so", Public: true})
	forged = proto.Clone(forged).(*signedv1.Envelope)
	forged.Signature[0] ^= 1
	rf.hiddenIDs = append(rf.hiddenIDs, hex.EncodeToString(forgedID[:]))
	envs = append(envs, forged, carolEnv)
	rf.replies[public.PostID(pubA)] = envs
	rf.h = rf.handler(t, "https://alice.example", nil)
	return rf
}

// handler serves the fixture's posts and replies at base, the Source failing replies
// with repErr when it is not nil.
func (rf *replyFixture) handler(t *testing.T, base string, repErr error) http.Handler {
	t.Helper()
	h, err := public.NewHandler(public.Config{Source: replySource{rf.src, rf.replies, repErr}, BaseURL: base,
		RatePerSecond: -1, PageSize: 10, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func sealReply(t *testing.T, k *identity.Key, d post.ReplyDraft) (*signedv1.Envelope, post.ID) {
	t.Helper()
	id, err := post.NewID(nil)
	if err != nil {
		t.Fatal(err)
	}
	d.ID = id
	env, _, err := post.SealReply(k, d)
	if err != nil {
		t.Fatal(err)
	}
	return env, id
}

// noHidden fails if an answer shows any reply a stranger must not see.
func (rf *replyFixture) noHidden(t *testing.T, what, body string) {
	t.Helper()
	if strings.Contains(body, "HIDDEN-") {
		t.Errorf("%s shows a reply it must not: %.400s", what, body[strings.Index(body, "HIDDEN-"):])
	}
	for _, id := range rf.hiddenIDs {
		if strings.Contains(body, id) {
			t.Errorf("%s names the left-out reply %s", what, id)
		}
	}
}

// TestPostPageShowsPublicReplies: a public post's page shows its public replies, oldest
// first, each with its author and anchor, and nothing of a private, deleted or forged
// reply or of one that answers another post or another person's post.
func TestPostPageShowsPublicReplies(t *testing.T) {
	rf := newReplyFixture(t)
	body := rf.get(t, "/p/"+publictest.ID(rf.pubA), http.StatusOK).Body
	rf.noHidden(t, "post page", body)
	bob := `id="reply-` + string(rf.bob.ID()) + "-" + hex.EncodeToString(rf.bobReply[:]) + `"`
	carol := `id="reply-` + string(rf.carol.ID()) + "-" + hex.EncodeToString(rf.carolR[:]) + `"`
	ib, ic := strings.Index(body, bob), strings.Index(body, carol)
	if ib < 0 || ic < 0 || !strings.Contains(body, "REPLY-BOB a public reply") || !strings.Contains(body, "REPLY-CAROL written first") {
		t.Fatalf("post page lacks a public reply (Bob %d, Carol %d): %s", ib, ic, body)
	}
	if ic > ib {
		t.Errorf("Carol's reply (written first) shows after Bob's")
	}
	// Another post's page shows none of them.
	if other := rf.get(t, "/p/"+publictest.ID(rf.pubShared), http.StatusOK).Body; strings.Contains(other, "REPLY-") {
		t.Errorf("a post without replies shows one")
	}
}

// TestRepliesSourceErrorShowsPost: a Source that fails on replies leaves them out; the
// post is still served.
func TestRepliesSourceErrorShowsPost(t *testing.T) {
	rf := newReplyFixture(t)
	h := rf.handler(t, "https://alice.example", errors.New("replies store down"))
	a := do(t, h, http.MethodGet, "/p/"+publictest.ID(rf.pubA))
	if a.Status != http.StatusOK || !strings.Contains(a.Body, "Hello from kith") {
		t.Fatalf("post page with failing replies: %d %.200s", a.Status, a.Body)
	}
	if strings.Contains(a.Body, "REPLY-") || strings.Contains(a.Body, `class="replies"`) {
		t.Errorf("post page shows replies its Source failed to give")
	}
}

// atomThreadFeed is the part of the Atom feed with RFC 4685 replies.
type atomThreadFeed struct {
	Updated string `xml:"http://www.w3.org/2005/Atom updated"`
	Entries []struct {
		ID      string `xml:"http://www.w3.org/2005/Atom id"`
		Title   string `xml:"http://www.w3.org/2005/Atom title"`
		Content string `xml:"http://www.w3.org/2005/Atom content"`
		Author  struct {
			Name string `xml:"http://www.w3.org/2005/Atom name"`
			URI  string `xml:"http://www.w3.org/2005/Atom uri"`
		} `xml:"http://www.w3.org/2005/Atom author"`
		Link []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"http://www.w3.org/2005/Atom link"`
		InReplyTo struct {
			Ref  string `xml:"ref,attr"`
			Href string `xml:"href,attr"`
		} `xml:"http://purl.org/syndication/thread/1.0 in-reply-to"`
	} `xml:"http://www.w3.org/2005/Atom entry"`
}

// TestFeedsCarryPublicReplies: the Atom and JSON feeds follow a post with its public
// replies, each naming the post it answers, with ids that are URLs under a public URL and
// urn:kith: names without one; the feed's updated time is its newest reply's.
func TestFeedsCarryPublicReplies(t *testing.T) {
	rf := newReplyFixture(t)
	alice := string(rf.key.ID())
	postID := publictest.ID(rf.pubA)
	bobHex, carolHex := hex.EncodeToString(rf.bobReply[:]), hex.EncodeToString(rf.carolR[:])
	for _, tc := range []struct {
		base, feedID, postEntry, bobEntry string
	}{
		{"https://alice.example", "https://alice.example/", "https://alice.example/p/" + postID,
			"https://alice.example/p/" + postID + "#reply-" + string(rf.bob.ID()) + "-" + bobHex},
		{"", "urn:kith:" + alice, "urn:kith:" + alice + ":" + postID,
			"urn:kith:" + alice + ":" + postID + ":reply:" + string(rf.bob.ID()) + ":" + bobHex},
	} {
		h := rf.handler(t, tc.base, nil)
		postURL := tc.base + "/p/" + postID
		a := do(t, h, http.MethodGet, "/feed.atom")
		if a.Status != http.StatusOK {
			t.Fatalf("base %q: feed.atom %d", tc.base, a.Status)
		}
		rf.noHidden(t, "feed.atom", a.Body)
		if !strings.Contains(a.Body, "<id>"+tc.feedID+"</id>") {
			t.Errorf("base %q: feed id is not %s: %.300s", tc.base, tc.feedID, a.Body)
		}
		var feed atomThreadFeed
		if err := xml.Unmarshal([]byte(a.Body), &feed); err != nil {
			t.Fatal(err)
		}
		if want := time.UnixMilli(t0 + 20_000).UTC().Format(time.RFC3339); feed.Updated != want {
			t.Errorf("base %q: feed updated %s, want the newest reply's %s", tc.base, feed.Updated, want)
		}
		var ids []string
		for _, e := range feed.Entries {
			ids = append(ids, e.ID)
		}
		// pubA is the oldest post: last, followed by its replies, oldest first.
		n := len(feed.Entries)
		if n != 5 || ids[2] != tc.postEntry || ids[4] != tc.bobEntry || !strings.HasSuffix(ids[3], carolHex) {
			t.Fatalf("base %q: entries %q, want 3 posts then Carol's and Bob's replies (%s, then %s)", tc.base, ids, tc.postEntry, tc.bobEntry)
		}
		bob := feed.Entries[4]
		if bob.InReplyTo.Ref != tc.postEntry || bob.InReplyTo.Href != postURL || bob.Author.Name != string(rf.bob.ID()) ||
			bob.Author.URI != "urn:kith:"+string(rf.bob.ID()) || bob.Content != "REPLY-BOB a public reply" ||
			bob.Title != "Reply to Hello from kith #kith #intro" || len(bob.Link) != 1 ||
			bob.Link[0].Href != postURL+"#reply-"+string(rf.bob.ID())+"-"+bobHex {
			t.Errorf("base %q: Bob's reply entry %+v", tc.base, bob)
		}

		j := do(t, h, http.MethodGet, "/feed.json")
		rf.noHidden(t, "feed.json", j.Body)
		var jf struct {
			Items []struct {
				ID      string `json:"id"`
				URL     string `json:"url"`
				Text    string `json:"content_text"`
				Authors []struct {
					Name string `json:"name"`
					URL  string `json:"url"`
				} `json:"authors"`
				Kith *struct {
					InReplyTo   string `json:"in_reply_to"`
					InReplyToID string `json:"in_reply_to_id"`
				} `json:"_kith"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(j.Body), &jf); err != nil {
			t.Fatal(err)
		}
		if len(jf.Items) != 5 {
			t.Fatalf("base %q: feed.json has %d items, want 3 posts and 2 replies", tc.base, len(jf.Items))
		}
		it := jf.Items[4]
		wantURL := postURL + "#reply-" + string(rf.bob.ID()) + "-" + bobHex
		if it.ID != wantURL || it.URL != wantURL || it.Text != "REPLY-BOB a public reply" || it.Kith == nil ||
			it.Kith.InReplyTo != postURL || it.Kith.InReplyToID != postID || len(it.Authors) != 1 ||
			it.Authors[0].Name != string(rf.bob.ID()) || it.Authors[0].URL != "urn:kith:"+string(rf.bob.ID()) {
			t.Errorf("base %q: Bob's reply item %+v", tc.base, it)
		}
		if jf.Items[2].Kith != nil || !strings.HasSuffix(jf.Items[3].ID, carolHex) {
			t.Errorf("base %q: items out of order: post %+v, then %+v", tc.base, jf.Items[2], jf.Items[3])
		}
	}
}
