package public_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/public/publictest"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
)

// TestConcurrentReadersAndEdits: the caches and the limiter are shared by every
// request; readers racing an author's edits see no error and nothing private (run it
// with -race).
func TestConcurrentReadersAndEdits(t *testing.T) {
	f := newFixture(t, public.Config{RatePerSecond: 1e6, RateBurst: 1e6})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 40 {
				path := []string{"/", "/feed.atom", "/feed.json", "/tags/kith", "/p/" + publictest.ID(f.pubA), "/sitemap.xml"}[i%6]
				a := do(t, f.h, http.MethodGet, path)
				if a.Status != http.StatusOK {
					t.Errorf("GET %s: %d", path, a.Status)
				}
				f.noSecrets(t, "GET "+path, a)
			}
		})
	}
	p := f.pubA
	for i := range 20 {
		p = publictest.Edit(p, t0+60000+int64(i), func(p *postv1.Payload) { p.Text = "edit in flight #kith" })
		f.put(t, p)
	}
	wg.Wait()
}
