package ui

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kithnet/kith/peer/store"
)

// Signal wakes watchers whenever Notify is called: the daemon notifies it when posts
// pulled from a friend were stored, which the store's own changes log does not record.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewSignal returns a Signal with no watchers.
func NewSignal() *Signal { return &Signal{ch: make(chan struct{})} }

// Notify wakes every current watcher.
func (s *Signal) Notify() {
	s.mu.Lock()
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}

// Changed returns a channel closed at the next Notify.
func (s *Signal) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// heartbeat keeps an idle event stream open through proxies and notices a gone browser.
const heartbeat = 25 * time.Second

// events is a Server-Sent Events stream: a "changed" event whenever the store's changes
// log grows (own posts) or posts are pulled from a friend. The page then fetches /posts.
// It ends with the request or with the server's context.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	var notes <-chan struct{}
	if s.cfg.Notes != nil && s.cfg.Conversation != nil {
		notes = s.cfg.Notes.NotesChanged()
		s.sendUnread(w, r)
	}
	// Each channel is taken again only after it fired: one commit can close two of them,
	// and taking all three anew after either would miss the other.
	own, pulled := s.cfg.Changes.Changed(), s.cfg.Pulled.Changed()
	for {
		select {
		case <-notes:
			notes = s.cfg.Notes.NotesChanged()
			s.sendUnread(w, r)
		case <-r.Context().Done():
			return
		case <-tick.C:
			fmt.Fprint(w, ": heartbeat\n\n")
		case <-own:
			own = s.cfg.Changes.Changed()
			fmt.Fprint(w, "event: changed\ndata: {}\n\n")
		case <-pulled:
			pulled = s.cfg.Pulled.Changed()
			fmt.Fprint(w, "event: changed\ndata: {}\n\n")
		}
		fl.Flush()
	}
}

// blob serves a stored attachment to the logged-in person. Images are shown inline;
// anything else downloads, so a stored file never runs as a page of this origin.
func (s *Server) blob(w http.ResponseWriter, r *http.Request) {
	sha, err := hex.DecodeString(r.PathValue("sha"))
	if err != nil || len(sha) != 32 {
		http.Error(w, "not a blob's SHA-256", http.StatusBadRequest)
		return
	}
	f, _, err := s.cfg.Blobs.OpenBlob(sha)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := f.Read(head)
	ct := http.DetectContentType(head[:n])
	// Photos, video and audio show inline (the bytes decide, not the sender's label);
	// anything else, SVG included (it may carry script), only downloads.
	inline := strings.HasPrefix(ct, "image/") || strings.HasPrefix(ct, "video/") || strings.HasPrefix(ct, "audio/")
	// A saved file is named by its hash and the extension the index kept (BlobExt: only
	// letters and digits), so a person's PDF saves as a PDF.
	ext, _ := s.cfg.Blobs.BlobExtension(sha)
	disp := "inline"
	if !inline || ct == "image/svg+xml" {
		ct = "application/octet-stream"
		disp = "attachment"
	}
	w.Header().Set("Content-Disposition", fmt.Sprintf(`%s; filename="%x%s"`, disp, sha[:6], ext))
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, f)
}
