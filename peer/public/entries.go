package public

import (
	"bytes"
	"html/template"
	"sync"
)

// maxCachedEntries bounds the entry cache; past it, the cache starts afresh.
const maxCachedEntries = 4096

// entryCache keeps rendered h-entry fragments. A signed version of a post never
// changes, so its fragment depends only on its signature and the base URL; rendering
// it once instead of on every list page is most of a list page's cost.
type entryCache struct {
	mu sync.Mutex
	m  map[string]template.HTML
}

// entries renders the h-entry of each post, from the cache where it can.
func (s *server) entries(posts []postView, base string) ([]template.HTML, error) {
	out := make([]template.HTML, len(posts))
	for i, p := range posts {
		key := base + "\x00" + p.signature
		s.cache.mu.Lock()
		html, ok := s.cache.m[key]
		s.cache.mu.Unlock()
		if !ok {
			var buf bytes.Buffer
			if err := s.pages.ExecuteTemplate(&buf, "entry", p); err != nil {
				return nil, err
			}
			html = template.HTML(buf.String()) // html/template escaped it
			s.cache.mu.Lock()
			if len(s.cache.m) >= maxCachedEntries {
				clear(s.cache.m)
			}
			s.cache.m[key] = html
			s.cache.mu.Unlock()
		}
		out[i] = html
	}
	return out, nil
}
