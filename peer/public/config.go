package public

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config is what Handler needs. Only Source is required; every other field has a safe
// default.
type Config struct {
	// Source answers for the person's public posts and blobs. Required.
	Source Source
	// Logger receives one line per failed Source call and per refused post; default:
	// slog.Default(). Nothing private is logged: only ids that were asked for.
	Logger *slog.Logger
	// Clock is the time, for the rate limiter; default time.Now.
	Clock func() time.Time
	// NoIndex asks search engines not to index anything (X-Robots-Tag and a robots meta
	// tag on every answer, no Sitemap line in robots.txt); crawling stays allowed, since a
	// crawler that may not fetch a page cannot see that it must not index it.
	NoIndex bool
	// BaseURL is the public origin, such as https://alice.example, used for canonical
	// links, OpenGraph, feeds and the sitemap. When empty, links are relative, pages carry
	// no canonical or og:url, feed ids are urn:kith: names and /sitemap.xml (which needs
	// absolute URLs) answers 404. Never taken from the request's Host header.
	BaseURL string
	// PageSize is how many posts a page or feed shows; default 20, at most 100.
	PageSize int
	// RatePerSecond is the sustained number of requests allowed per client address;
	// default 10. Negative turns the limit off (for benchmarks; never in production).
	RatePerSecond float64
	// RateBurst is how many requests a client may make at once before the rate applies;
	// default 40.
	RateBurst int
	// ClientAddr says which client a request comes from, for the rate limit; default:
	// RemoteIP. Behind a reverse proxy, use ForwardedFor with the proxy's addresses.
	ClientAddr func(*http.Request) string
	// MaxQuery bounds the raw query string in bytes (414 beyond); default 256.
	MaxQuery int
	// MaxPath bounds the raw path in bytes (414 beyond); default 512.
	MaxPath int
	// SourceTimeout bounds each call to Source; default 5s. Slow clients are bounded by
	// the server's timeouts instead: see NewServer, which Serve uses.
	SourceTimeout time.Duration
}

// Defaults of Config.
const (
	DefaultPageSize      = 20
	MaxPageSize          = 100
	DefaultRatePerSecond = 10
	DefaultRateBurst     = 40
	DefaultMaxQuery      = 256
	DefaultMaxPath       = 512
	DefaultSourceTimeout = 5 * time.Second
)

// ErrBadBaseURL is returned by CheckBaseURL.
var ErrBadBaseURL = errors.New("want an absolute http(s) URL without user, query or fragment, such as https://alice.example")

// CheckBaseURL tells whether u can be a public face's origin (Config.BaseURL).
func CheckBaseURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil ||
		p.RawQuery != "" || p.ForceQuery || p.Fragment != "" || strings.ContainsAny(u, "\"<>` \t\n") {
		return ErrBadBaseURL
	}
	return nil
}

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Source == nil {
		return c, errors.New("public: Config.Source is required")
	}
	if c.BaseURL != "" {
		if err := CheckBaseURL(c.BaseURL); err != nil {
			return c, fmt.Errorf("public: Config.BaseURL: %w", err)
		}
		c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.PageSize <= 0 {
		c.PageSize = DefaultPageSize
	}
	c.PageSize = min(c.PageSize, MaxPageSize)
	if c.RatePerSecond == 0 {
		c.RatePerSecond = DefaultRatePerSecond
	}
	if c.RateBurst <= 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.ClientAddr == nil {
		c.ClientAddr = RemoteIP
	}
	if c.MaxQuery <= 0 {
		c.MaxQuery = DefaultMaxQuery
	}
	if c.MaxPath <= 0 {
		c.MaxPath = DefaultMaxPath
	}
	if c.SourceTimeout <= 0 {
		c.SourceTimeout = DefaultSourceTimeout
	}
	return c, nil
}
