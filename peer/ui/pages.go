package ui

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

//go:embed templates
var templateFS embed.FS

// pageNames are the templates/<name>.html pages, each rendered inside layout.html.
var pageNames = []string{"login", "timeline", "posts", "friends", "connections", "backup", "error", "notifications", "devices", "thread"}

type pages struct{ byName map[string]*template.Template }

func parsePages() (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS,
			"templates/layout.html", "templates/post.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui templates: %w", err)
		}
		p.byName[name] = t
	}
	return p, nil
}

var funcs = template.FuncMap{
	"when": func(ms int64) string { return time.UnixMilli(ms).Local().Format("2 Jan 2006 15:04") },
	"iso":  func(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) },
	"ago": func(ms int64) string {
		if ms == 0 {
			return "never"
		}
		return time.Since(time.UnixMilli(ms)).Round(time.Second).String() + " ago"
	},
	"segments": segments,
	// person names a mentioned ID: a friend's name, "you", or the ID's start.
	"person": func(names map[string]string, id string) string {
		if n := names[id]; n != "" {
			return n
		}
		if len(id) > 12 {
			return id[:12] + "…"
		}
		return id
	},
	"emojis": func() []string { return quickEmojis },
	"kind":   mediaKind,
	"form": func(action, id, what, button, csrf string) passphraseForm {
		return passphraseForm{Action: action, ID: id, What: what, Button: button, CSRF: csrf}
	},
}

// passphraseForm is one of the backup page's two forms.
type passphraseForm struct{ Action, ID, What, Button, CSRF string }

// view is what every page's layout needs besides the page's own data.
type view struct {
	Title string
	Nav   string
	CSRF  string
	Data  any
}

// render executes a page into a buffer first, so a template error becomes a clean 500,
// and compresses it when the browser accepts gzip (a timeline of 1,000 posts shrinks
// about tenfold). The "posts" page is a fragment, without the layout.
func (p *pages) render(w http.ResponseWriter, r *http.Request, name string, code int, data any) {
	t := p.byName[name]
	v := view{Title: titles[name], Nav: name, Data: data}
	if ss := sessionOf(r); ss != nil {
		v.CSRF = ss.csrf
	}
	root := "layout.html"
	if name == "posts" {
		root = "postlist"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, root, v); err != nil {
		http.Error(w, "page "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept-Encoding")
	body := buf.Bytes()
	if buf.Len() > 1400 && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		var zb bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&zb, gzip.BestSpeed)
		zw.Write(body)
		zw.Close()
		h.Set("Content-Encoding", "gzip")
		body = zb.Bytes()
	}
	w.WriteHeader(code)
	w.Write(body)
}

var titles = map[string]string{"login": "Log in", "timeline": "Timeline", "posts": "Posts",
	"friends": "Friends and groups", "connections": "Connections", "backup": "Backups", "error": "Something went wrong",
	"notifications": "Notifications", "devices": "Your devices", "thread": "Conversation"}

// fail shows an error page with what went wrong and a way back.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	s.cfg.Logger.Warn("web app request failed", "path", r.URL.Path, "err", err)
	if r.Header.Get("X-CSRF-Token") != "" { // a script asked: a short text answer
		http.Error(w, errText(err), code)
		return
	}
	s.pages.render(w, r, "error", code, errText(err))
}
