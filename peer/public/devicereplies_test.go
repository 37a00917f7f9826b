package public_test

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// chainSource is replySource that also gives the revocations it holds (the daemon's
// does: public.RevocationSource).
type chainSource struct {
	replySource
	revoked map[identity.PublicKey][]device.Revocation
}

func (s chainSource) DeviceRevocations(_ context.Context, p identity.PublicKey) ([]device.Revocation, error) {
	return s.revoked[p], nil
}

// TestDeviceRepliesOnThePublicFace (issue 16): a public reply one of Dave's devices
// signed shows as Dave's on the post's page and in the feeds when the Source gives
// Dave's revocations and the device signed it before its revocation; one it signed at
// or after the revocation is left out, and so is every device reply when the Source
// gives no revocations at all (the face never takes a device blind).
func TestDeviceRepliesOnThePublicFace(t *testing.T) {
	f := newFixture(t, public.Config{PageSize: 10})
	dave, laptop := newKey(t), newKey(t)
	alice, pubA := f.key.Public(), post.ID(f.pubA.GetId())
	start := time.UnixMilli(t0)
	cert, err := device.Issue(dave, laptop.Public(), []byte("laptop01"), start, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := device.Open(cert, dave.Public())
	if err != nil {
		t.Fatal(err)
	}
	revAt := start.Add(time.Hour)
	revEnv, err := device.Revoke(dave, c, revAt)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := device.OpenRevocation(revEnv, dave.Public())
	if err != nil {
		t.Fatal(err)
	}
	seal := func(text string, at time.Time) (*signedv1.Envelope, string) {
		t.Helper()
		env, r, err := post.SealReplyAs(laptop, dave.Public(), cert, post.ReplyDraft{Now: at, PostAuthor: alice, PostID: pubA, Text: text, Public: true})
		if err != nil {
			t.Fatal(err)
		}
		return env, hex.EncodeToString(r.GetId())
	}
	before, beforeID := seal("DEVICE-BEFORE written on Dave's laptop", revAt.Add(-time.Minute))
	after, afterID := seal("HIDDEN-AFTER written on the laptop after its revocation", revAt)
	replies := map[public.PostID][]*signedv1.Envelope{public.PostID(pubA): {before, after}}
	handler := func(src public.Source) http.Handler {
		t.Helper()
		h, err := public.NewHandler(public.Config{Source: src, BaseURL: "https://alice.example", RatePerSecond: -1, PageSize: 10, Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	withRevs := handler(chainSource{replySource{Memory: f.src, replies: replies}, map[identity.PublicKey][]device.Revocation{dave.Public(): {rev}}})
	page := do(t, withRevs, http.MethodGet, "/p/"+publictest.ID(f.pubA))
	if page.Status != http.StatusOK {
		t.Fatalf("post page: %d", page.Status)
	}
	if !strings.Contains(page.Body, "DEVICE-BEFORE") || !strings.Contains(page.Body, `id="reply-`+string(dave.ID())+"-"+beforeID+`"`) {
		t.Errorf("the page lacks Dave's device reply, as Dave's: %.600s", page.Body)
	}
	if strings.Contains(page.Body, "HIDDEN-AFTER") || strings.Contains(page.Body, afterID) {
		t.Errorf("the page shows a reply the laptop signed at its revocation")
	}
	feed := do(t, withRevs, http.MethodGet, "/feed.json")
	if !strings.Contains(feed.Body, "DEVICE-BEFORE") || strings.Contains(feed.Body, "HIDDEN-AFTER") {
		t.Errorf("the JSON feed: want the device reply before the revocation alone: %.600s", feed.Body)
	}
	blind := do(t, handler(replySource{Memory: f.src, replies: replies}), http.MethodGet, "/p/"+publictest.ID(f.pubA))
	if blind.Status != http.StatusOK || strings.Contains(blind.Body, "DEVICE-BEFORE") || strings.Contains(blind.Body, "HIDDEN-AFTER") {
		t.Errorf("a Source without revocations: the page shows a device reply (status %d)", blind.Status)
	}
}
