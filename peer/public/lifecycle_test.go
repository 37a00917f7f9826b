package public

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
)

// everywhere is every list that shows a public post: pages, tag pages, feeds, sitemap.
var everywhere = []string{"/", "/tags/kith", "/feed.atom", "/feed.json", "/sitemap.xml"}

// TestEditDeletePrivateFollowAtOnce: an edit shows the new version at once; a delete or a
// change to private answers 410 at once and leaves every list, with no cache to wait on.
func TestEditDeletePrivateFollowAtOnce(t *testing.T) {
	f := newFixture(t, Config{PageSize: 10})
	id := idOf(f.pubShared)
	for _, path := range everywhere {
		if !strings.Contains(f.get(t, path, 200).Body, id) {
			t.Fatalf("%s does not list the public post before the change", path)
		}
	}
	before := f.get(t, "/p/"+id, 200)

	f.pubShared = edit(f.pubShared, t0+20000, func(p *postv1.Payload) { p.Text = "edited text, version two #kith" })
	f.src.put(t, f.pubShared)
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
		"made private": func(p *postv1.Payload) { p.Visibility = private },
	} {
		t.Run(name, func(t *testing.T) {
			ms += 10000 // each change later than the last, as a real clock would have it
			p := newPayload("soon "+name+" #kith", public, ms)
			f.src.put(t, p)
			etags, lms := map[string]string{}, map[string]string{}
			for _, path := range everywhere {
				a := f.get(t, path, 200)
				if !strings.Contains(a.Body, idOf(p)) {
					t.Fatalf("%s does not list the post before it is %s", path, name)
				}
				etags[path], lms[path] = a.Header.Get("ETag"), a.Header.Get("Last-Modified")
			}
			f.src.put(t, edit(p, ms+5000, change))
			f.get(t, "/p/"+idOf(p), http.StatusGone)
			f.get(t, "/p/"+idOf(p)+".json", http.StatusGone)
			for _, path := range everywhere {
				// A client revalidating its copy gets the new list, not 304.
				a := f.get(t, path, 200, "If-None-Match", etags[path])
				f.get(t, path, 200, "If-Modified-Since", lms[path])
				if strings.Contains(a.Body, idOf(p)) || strings.Contains(a.Body, "soon "+name) {
					t.Errorf("%s still lists the post after it was %s", path, name)
				}
			}
		})
	}
}

// TestCachedBodiesFollowTheProfile: pages and feeds are cached by what they are rendered
// from, so a change of published name shows at once too.
func TestCachedBodiesFollowTheProfile(t *testing.T) {
	f := newFixture(t, Config{})
	for _, path := range []string{"/", "/feed.atom", "/feed.json", "/p/" + idOf(f.pubA)} {
		f.get(t, path, 200)
	}
	f.src.mu.Lock()
	f.src.name = "Alice Renamed"
	f.src.mu.Unlock()
	for _, path := range []string{"/", "/feed.atom", "/feed.json", "/p/" + idOf(f.pubA)} {
		if body := f.get(t, path, 200).Body; !strings.Contains(body, "Alice Renamed") {
			t.Errorf("%s still shows the old name", path)
		}
	}
}

// TestPageKeyNamesEveryField guards pageKey: a field added to pageView must be added
// to the key too, or a page could be served from the cache with the field's old value.
func TestPageKeyNamesEveryField(t *testing.T) {
	if n := reflect.TypeFor[pageView]().NumField(); n != 13 {
		t.Errorf("pageView has %d fields; pageKey names 13: update pageKey, then this test", n)
	}
	if n := reflect.TypeFor[profileView]().NumField(); n != 5 {
		t.Errorf("profileView has %d fields; cacheKey.profile names 5: update it, then this test", n)
	}
}
