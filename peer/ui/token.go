package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TokenTTL is how long a login token minted by `kith ui` stays valid.
const TokenTTL = 10 * time.Minute

// ErrNoUI means no daemon serves the web app for this home now.
var ErrNoUI = errors.New("the web app is not running for this home")

// dir is Home/ui: the tokens and the URL of the running web app.
func dir(home string) string { return filepath.Join(home, "ui") }

func tokenPath(home, token string) string {
	sum := sha256.Sum256([]byte(token))
	return filepath.Join(dir(home), "tokens", hex.EncodeToString(sum[:]))
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
	return now.Sub(info.ModTime()) <= TokenTTL
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
