package public_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
)

// everywhere is every list that shows a public post: pages, tag pages, feeds, sitemap.
var everywhere = []string{"/", "/tags/kith", "/feed.atom", "/feed.json", "/sitemap.xml"}

// TestEditDeletePrivateFollowAtOnce: an edit shows the new version at once; a delete or a
// change to private answers 410 at once and leaves every list, with no cache to wait on.
func TestEditDeletePrivateFollowAtOnce(t *testing.T) {
	f := newFixture(t, public.Config{PageSize: 10})
	id := publictest.ID(f.pubShared)
	for _, path := range everywhere {
		if !strings.Contains(f.get(t, path, 200).Body, id) {
			t.Fatalf("%s does not list the public post before the change", path)
		}
	}
	before := f.get(t, "/p/"+id, 200)

	f.pubShared = publictest.Edit(f.pubShared, t0+20000, func(p *postv1.Payload) { p.Text = "edited text, version two #kith" })
	f.put(t, f.pubShared)
	after := f.get(t, "/p/"+id, 200, "If-None-Match", before.Header.Get("ETag"))
	if !strings.Contains(after.Body, "edited text, version two") || strings.Contains(after.Body, "sharing a picture") {
		t.Errorf("the post page does not show the new version:\n%s", after.Body)
	}
	if !strings.Contains(f.get(t, "/p/"+id+".json", 200).Body, `"version": 2`) {
		t.Errorf("/p/ID.json does not carry version 2")
	}
	for _, path := range []string{"/", "/feed.atom", "/feed.json"} {
		if body := f.get(t, path, 200).Body; !strings.Contains(body, "edited text, version two") {
			t.Errorf("%s does not show the edit", path)
		}
	}

	ms := t0 + 30000
	for name, change := range map[string]func(*postv1.Payload){
		"deleted":      func(p *postv1.Payload) { p.Deleted, p.Text, p.Hashtags, p.Attachments = true, "", nil, nil },
		"made private": func(p *postv1.Payload) { p.Visibility = publictest.Private },
	} {
		t.Run(name, func(t *testing.T) {
			ms += 10000 // each change later than the last, as a real clock would have it
			p := publictest.NewPayload("soon "+name+" #kith", publictest.Public, ms)
			f.put(t, p)
			etags, lms := map[string]string{}, map[string]string{}
			for _, path := range everywhere {
				a := f.get(t, path, 200)
				if !strings.Contains(a.Body, publictest.ID(p)) {
					t.Fatalf("%s does not list the post before it is %s", path, name)
				}
				etags[path], lms[path] = a.Header.Get("ETag"), a.Header.Get("Last-Modified")
			}
			f.put(t, publictest.Edit(p, ms+5000, change))
			f.get(t, "/p/"+publictest.ID(p), http.StatusGone)
			f.get(t, "/p/"+publictest.ID(p)+".json", http.StatusGone)
			for _, path := range everywhere {
				// A client revalidating its copy gets the new list, not 304.
				a := f.get(t, path, 200, "If-None-Match", etags[path])
				f.get(t, path, 200, "If-Modified-Since", lms[path])
				if strings.Contains(a.Body, publictest.ID(p)) || strings.Contains(a.Body, "soon "+name) {
					t.Errorf("%s still lists the post after it was %s", path, name)
				}
			}
		})
	}
}

// TestCachedBodiesFollowTheProfile: pages and feeds are cached by what they are rendered
// from, so a change of published name shows at once too.
func TestCachedBodiesFollowTheProfile(t *testing.T) {
	f := newFixture(t, public.Config{})
	for _, path := range []string{"/", "/feed.atom", "/feed.json", "/p/" + publictest.ID(f.pubA)} {
		f.get(t, path, 200)
	}
	f.src.SetProfile(public.Profile{ID: f.key.Public(), Name: "Alice Renamed"})
	for _, path := range []string{"/", "/feed.atom", "/feed.json", "/p/" + publictest.ID(f.pubA)} {
		if body := f.get(t, path, 200).Body; !strings.Contains(body, "Alice Renamed") {
			t.Errorf("%s still shows the old name", path)
		}
	}
}
