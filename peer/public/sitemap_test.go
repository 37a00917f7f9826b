package public_test

import (
	"encoding/xml"
	"fmt"
	"strings"
	"testing"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
)

// TestSitemapListsEveryPublicPost walks more than one Source page and lists each public
// post once, the profile page and each tag page, as absolute URLs.
func TestSitemapListsEveryPublicPost(t *testing.T) {
	f := newFixture(t, public.Config{})
	for i := range 250 {
		f.put(t, publictest.NewPayload(fmt.Sprintf("post %d #many", i), publictest.Public, t0+100000+int64(i)))
	}
	var set struct {
		URLs []struct {
			Loc     string `xml:"loc"`
			LastMod string `xml:"lastmod"`
		} `xml:"url"`
	}
	a := f.get(t, "/sitemap.xml", 200)
	if err := xml.Unmarshal([]byte(a.Body), &set); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	posts := 0
	for _, u := range set.URLs {
		if seen[u.Loc] || !strings.HasPrefix(u.Loc, "https://alice.example/") || u.LastMod == "" {
			t.Errorf("sitemap entry %+v: duplicate, relative or without lastmod", u)
		}
		seen[u.Loc] = true
		if strings.HasPrefix(u.Loc, "https://alice.example/p/") {
			posts++
		}
	}
	if posts != 253 || !seen["https://alice.example/"] || !seen["https://alice.example/tags/many"] || !seen["https://alice.example/tags/intro"] {
		t.Errorf("sitemap: %d posts (want 253), profile %v, tag pages %v %v", posts,
			seen["https://alice.example/"], seen["https://alice.example/tags/many"], seen["https://alice.example/tags/intro"])
	}
	f.noSecrets(t, "sitemap", a)
}
