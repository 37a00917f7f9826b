package ui

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/image/draw"
)

// Thumbnails: the timeline shows photos scaled down to fit thumbSize, made once and kept
// under Home/ui/thumbs (a cache: deleting it is harmless).
const (
	thumbSize = 480
	// maxThumbPixels refuses to decode images larger than this (a decompression bomb);
	// the browser gets the original instead.
	maxThumbPixels = 60_000_000
)

// thumbFormats decode what browsers show and the standard library reads.
var thumbFormats = map[string]func(io.Reader) (image.Image, error){"png": png.Decode, "jpeg": jpeg.Decode, "gif": gif.Decode}

// errNoThumb means the original is served instead: small already, or not decodable here.
var errNoThumb = errors.New("no thumbnail for this image")

// thumb serves a photo's thumbnail, making it on first use; the original when a
// thumbnail would not help.
func (s *Server) thumb(w http.ResponseWriter, r *http.Request) {
	sha, err := hex.DecodeString(r.PathValue("sha"))
	if err != nil || len(sha) != 32 {
		http.Error(w, "not a blob's SHA-256", http.StatusBadRequest)
		return
	}
	p := filepath.Join(dir(s.cfg.Home), "thumbs", hex.EncodeToString(sha)+".jpg")
	if _, err := os.Stat(p); err != nil {
		s.thumbSem <- struct{}{} // decoding photos is heavy: a few at a time
		err = s.makeThumb(sha, p)
		<-s.thumbSem
		if err != nil {
			if !errors.Is(err, errNoThumb) {
				s.cfg.Logger.Warn("thumbnail", "sha256", hex.EncodeToString(sha), "err", err)
			}
			s.blob(w, r)
			return
		}
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	f, err := os.Open(p)
	if err != nil {
		s.blob(w, r)
		return
	}
	defer f.Close()
	http.ServeContent(w, r, "", time.Time{}, f)
}

// makeThumb decodes a blob, scales it to fit thumbSize and writes it as JPEG to path.
func (s *Server) makeThumb(sha []byte, path string) error {
	f, _, err := s.cfg.Blobs.OpenBlob(sha)
	if err != nil {
		return err
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	if err != nil || thumbFormats[format] == nil || cfg.Width*cfg.Height > maxThumbPixels {
		return errNoThumb
	}
	if cfg.Width <= thumbSize && cfg.Height <= thumbSize {
		return errNoThumb
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	src, err := thumbFormats[format](f)
	if err != nil {
		return fmt.Errorf("decode %s: %w", format, err)
	}
	b := src.Bounds()
	scale := min(float64(thumbSize)/float64(b.Dx()), float64(thumbSize)/float64(b.Dy()))
	dst := image.NewRGBA(image.Rect(0, 0, max(1, int(float64(b.Dx())*scale)), max(1, int(float64(b.Dy())*scale))))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 82}); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".thumb-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
