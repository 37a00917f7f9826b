package public

import (
	"encoding/hex"
	"io"
	"mime"
	"net/http"
	"strings"
)

// inlineTypes are the media types served as themselves; any other (HTML, SVG, scripts,
// unknown) is served as a download, because the author, not the node, declared it and
// the blob shares the pages' origin.
var inlineTypes = map[string]bool{
	"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true, "image/avif": true,
	"video/mp4": true, "video/webm": true, "audio/mpeg": true, "audio/ogg": true, "audio/webm": true,
	"audio/mp4": true, "text/plain": true, "application/pdf": true,
}

// inlineMedia reports whether a declared media type is served as itself.
func inlineMedia(mediaType string) bool {
	mt, _, err := mime.ParseMediaType(mediaType)
	return err == nil && inlineTypes[mt]
}

// serveBlob is /blob/SHA256: an attachment of a public post, with Range and HEAD.
func (s *server) serveBlob(w http.ResponseWriter, r *http.Request, raw string) {
	sum, err := ParseHash(raw)
	if err != nil {
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := s.sourceCtx(r)
	defer cancel()
	b, err := s.cfg.Source.PublicBlob(ctx, sum)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if c, ok := b.Content.(io.Closer); ok {
		defer c.Close()
	}
	h := w.Header()
	mt := strings.ToLower(b.MediaType)
	if inlineMedia(mt) {
		if strings.HasPrefix(mt, "text/plain") {
			mt = "text/plain; charset=utf-8"
		}
		h.Set("Content-Type", mt)
	} else {
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", "attachment")
	}
	// A blob is its hash: the strong ETag never needs computing.
	h.Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	h.Set("Cache-Control", "public, no-cache")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	http.ServeContent(w, r, "", b.ModTime, b.Content)
}
