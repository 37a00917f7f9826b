package ui

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/kithnet/kith/peer/post"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// DefaultAddr is where the web app listens unless told otherwise.
const DefaultAddr = "127.0.0.1:4701"

// Blobs opens stored attachments by their SHA-256 and names the extension each was
// stored with (the store does).
type Blobs interface {
	OpenBlob(sha []byte) (*os.File, uint64, error)
	BlobExtension(sha []byte) (string, error)
}

// Changes wakes watchers when the store's changes log grows (the store does).
type Changes interface {
	Changed() <-chan struct{}
}

// Config is what the web app serves and how.
type Config struct {
	// Addr is the TCP address to listen on; DefaultAddr when empty.
	Addr string
	// Home is the kith home: login tokens and uploads in progress live under Home/ui.
	Home string
	// API is the daemon's local API, the same one the CLI uses.
	API localv1.LocalServiceServer
	// Blobs serves photos to the logged-in person.
	Blobs Blobs
	// Changes (own posts) and Pulled (friends' posts) drive live updates of the timeline.
	Changes, Pulled Changes
	// TLSCert and TLSKey serve HTTPS; required (with Password) off loopback.
	TLSCert, TLSKey string
	// Password is asked at login besides the token; required off loopback.
	Password string
	// ScryptWorkFactor is log2 of scrypt's N for backups; 0 means backup.WorkFactor(). Only
	// in-process tests set it; the daemon never does.
	ScryptWorkFactor int
	// Logger receives the web app's logs; discarded when nil.
	Logger *slog.Logger
	// Conversation is the daemon's conversation API (threads, replies, reactions,
	// notifications, friend requests); those parts of the app are off when nil.
	Conversation localv1.ConversationServiceServer
	// Notes wakes the live unread count when notifications change (the store does).
	Notes Notes
	// MaxAttachmentSize is the largest file the compose form reads in full: a larger
	// one reaches the local API one byte over, which refuses it. post.MaxAttachmentSize
	// when zero; only tests set less.
	MaxAttachmentSize int64
}

// Notes wakes watchers when the notifications change (the store does).
type Notes interface {
	NotesChanged() <-chan struct{}
}

// Errors of a configuration the web app refuses.
var (
	ErrNeedTLS      = errors.New("the web app listens beyond loopback only over TLS: give a certificate and key")
	ErrNeedPassword = errors.New("the web app listens beyond loopback only with a password")
	// ErrListen wraps a failure to bind the address (busy, most likely): the daemon runs
	// on without its web app rather than refusing to run.
	ErrListen = errors.New("the web app cannot listen")
)

// check fills defaults and refuses an unsafe configuration.
func (c *Config) check() error {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Pulled == nil {
		c.Pulled = NewSignal()
	}
	if c.MaxAttachmentSize <= 0 {
		c.MaxAttachmentSize = post.MaxAttachmentSize
	}
	if c.API == nil || c.Blobs == nil || c.Changes == nil || c.Home == "" {
		return errors.New("ui: Config needs Home, API, Blobs and Changes")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("ui: the TLS certificate and key go together")
	}
	loop, err := isLoopback(c.Addr)
	if err != nil {
		return err
	}
	if !loop {
		if c.TLSCert == "" {
			return fmt.Errorf("--ui %s: %w", c.Addr, ErrNeedTLS)
		}
		if c.Password == "" {
			return fmt.Errorf("--ui %s: %w", c.Addr, ErrNeedPassword)
		}
	}
	return nil
}

// isLoopback reports whether addr's host is a loopback address or localhost.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("--ui %q: want HOST:PORT: %w", addr, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}
