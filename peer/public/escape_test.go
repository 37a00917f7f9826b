package public_test

import (
	"strings"
	"testing"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
)

// TestTextIsText: a post's markup renders as text on every page, and only the tags the
// signed payload lists become links.
func TestTextIsText(t *testing.T) {
	f := newFixture(t, public.Config{PageSize: 10})
	for _, path := range []string{"/", "/p/" + publictest.ID(f.pubB), "/tags/go"} {
		body := f.get(t, path, 200).Body
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<b>bold") {
			t.Errorf("%s renders the post's markup as markup", path)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;") {
			t.Errorf("%s does not show the post's markup as escaped text", path)
		}
		if !strings.Contains(body, `<a class="p-category" rel="tag" href="/tags/go">#Go</a>`) {
			t.Errorf("%s does not link #Go to /tags/go", path)
		}
		if !strings.Contains(body, `class="h-entry"`) || !strings.Contains(body, `class="h-card`) ||
			!strings.Contains(body, `<link rel="canonical"`) || !strings.Contains(body, `property="og:title"`) {
			t.Errorf("%s lacks h-entry, h-card, canonical or OpenGraph markup", path)
		}
	}
	post := f.get(t, "/p/"+publictest.ID(f.pubA), 200).Body
	for _, want := range []string{string(f.key.ID()), "/p/" + publictest.ID(f.pubA) + ".json", "kith/post/v1", `property="og:image"`} {
		if !strings.Contains(post, want) {
			t.Errorf("post page lacks %q (ID, envelope link, how to verify, og:image)", want)
		}
	}
}
