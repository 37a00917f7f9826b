package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/kithnet/kith/peer/backup"
)

// passphrase reads KITH_PASSPHRASE, or asks on the terminal (twice when confirm is set,
// for a new passphrase). Without either it says what to do. A new passphrase (confirm)
// must pass backup.CheckPassphrase, the web app's rule too.
func (c *call) passphrase(prompt string, confirm bool) ([]byte, error) {
	p, err := c.readPassphrase(prompt, confirm)
	if err != nil {
		return nil, err
	}
	if confirm {
		if err := backup.CheckPassphrase(p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (c *call) readPassphrase(prompt string, confirm bool) ([]byte, error) {
	if p := c.env.Getenv("KITH_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	if c.env.ReadPassword == nil || c.env.IsTerminal == nil || !c.env.IsTerminal(int(os.Stdin.Fd())) {
		return nil, errors.New("a passphrase is needed: run in a terminal, or set KITH_PASSPHRASE")
	}
	p, err := c.env.ReadPassword(prompt)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, errors.New("empty passphrase")
	}
	if confirm {
		again, err := c.env.ReadPassword("Again: ")
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		if !bytes.Equal(p, again) {
			return nil, errors.New("the two passphrases differ")
		}
	}
	return p, nil
}

// progress returns a meter of bytes (export, import).
func (c *call) progress(label string) func(done, total uint64) {
	return c.meter(label, func(done, _ uint64) string { return humanBytes(done) })
}

// meter returns a progress callback that draws on stderr when stderr is a terminal, at
// most ten times a second, and does nothing otherwise: a bar when the total is known,
// the count alone when it is not. what says what the count is.
func (c *call) meter(label string, what func(done, total uint64) string) func(done, total uint64) {
	f, ok := c.env.Stderr.(*os.File)
	if !ok || c.env.IsTerminal == nil || !c.env.IsTerminal(int(f.Fd())) {
		return func(uint64, uint64) {}
	}
	var last time.Time
	return func(done, total uint64) {
		now := time.Now()
		if now.Sub(last) < 100*time.Millisecond && done != total {
			return
		}
		last = now
		if total == 0 || done > total {
			fmt.Fprintf(f, "\r%s  %s ", label, what(done, total))
			return
		}
		const width = 30
		filled := int(done * width / total)
		bar := bytes.Repeat([]byte("#"), filled)
		bar = append(bar, bytes.Repeat([]byte("."), width-filled)...)
		fmt.Fprintf(f, "\r%s  [%s] %3d%%  %s ", label, bar, done*100/total, what(done, total))
		if done == total {
			fmt.Fprintln(f)
		}
	}
}
