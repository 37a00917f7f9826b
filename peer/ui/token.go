package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TokenTTL is how long a login token minted by `kith ui` stays valid: long enough for a
// browser to start, short enough that a link seen over a shoulder or left in a scrollback
// is soon worth nothing.
const TokenTTL = 2 * time.Minute

// ErrNoUI means no daemon serves the web app for this home now.
var ErrNoUI = errors.New("the web app is not running for this home")

// dir is Home/ui: the tokens and the URL of the running web app.
func dir(home string) string { return filepath.Join(home, "ui") }

func tokenPath(home, token string) string {
	return filepath.Join(dir(home), "tokens", tokenName(token))
}

// openerPath is the redirect page handed to the browser opener for token.
func openerPath(home, token string) string {
	return filepath.Join(dir(home), "open", tokenName(token)+".html")
}

func tokenName(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// MintToken makes a one-time login token for the web app of home. Only who can write the
// home (mode 0700) can mint one: the file, named by the token's hash, is the proof, and
// the daemon deletes it on first use.
func MintToken(home string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	p := tokenPath(home, token)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("mint login token: %w", err)
	}
	sweep(home, time.Now())
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		return "", fmt.Errorf("mint login token: %w", err)
	}
	return token, nil
}

// consumeToken reports whether token was minted for home, unused and fresh, and uses it
// up: removing the file is atomic, so of two logins with one token only one wins.
func consumeToken(home, token string, now time.Time) bool {
	if token == "" || len(token) > 100 {
		return false
	}
	p := tokenPath(home, token)
	info, err := os.Stat(p)
	if err != nil {
		return false
	}
	if os.Remove(p) != nil {
		return false
	}
	os.Remove(openerPath(home, token))
	return now.Sub(info.ModTime()) <= TokenTTL
}

// sweep removes the token files and redirect pages of tokens that expired unused.
func sweep(home string, now time.Time) {
	for _, sub := range []string{"tokens", "open"} {
		entries, _ := os.ReadDir(filepath.Join(dir(home), sub))
		for _, e := range entries {
			if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > TokenTTL {
				os.Remove(filepath.Join(dir(home), sub, e.Name()))
			}
		}
	}
}

// URL returns the address of the web app the daemon of home serves now. A file left by
// a daemon that crashed names an address nobody answers on: that is ErrNoUI too.
func URL(home string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir(home), "url"))
	if errors.Is(err, os.ErrNotExist) {
		return "", ErrNoUI
	}
	if err != nil {
		return "", err
	}
	u, err := url.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		return "", ErrNoUI
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		return "", ErrNoUI
	}
	c.Close()
	return u.String(), nil
}

// LoginURL mints a token and returns the URL that logs the browser in with it.
func LoginURL(home string) (string, error) {
	base, err := URL(home)
	if err != nil {
		return "", err
	}
	token, err := MintToken(home)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(base, "/") + "/login?token=" + token, nil
}

// openerPage is the redirect page a browser opener is given instead of the login link,
// so the token never appears in a process's arguments (which any local user can read in
// /proc). Notebook servers do the same.
var openerPage = template.Must(template.New("open").Parse(`<!doctype html>
<meta charset="utf-8">
<meta http-equiv="refresh" content="0;url={{.}}">
<title>kith</title>
<p><a href="{{.}}">Open kith</a></p>
`))

// LoginFile mints a token and writes a page (mode 0600, in the home's ui folder) that
// sends a browser to the login link; it returns the page's path, for a browser opener's
// arguments, and the link itself. The page is removed when its token is used or, unused,
// once it has expired.
func LoginFile(home string) (path, link string, err error) {
	link, err = LoginURL(home)
	if err != nil {
		return "", "", err
	}
	u, _ := url.Parse(link)
	path = openerPath(home, u.Query().Get("token"))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", "", fmt.Errorf("write login page: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", fmt.Errorf("write login page: %w", err)
	}
	err = errors.Join(openerPage.Execute(f, link), f.Close())
	if err != nil {
		os.Remove(path)
		return "", "", fmt.Errorf("write login page: %w", err)
	}
	return path, link, nil
}

func writeURL(home, url string) error {
	if err := os.MkdirAll(dir(home), 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(dir(home), ".url.tmp")
	if err := os.WriteFile(tmp, []byte(url+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir(home), "url"))
}
