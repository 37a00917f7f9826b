package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kithnet/kith/peer/backup"
)

// passphrase reads the command's --passphrase-file, or KITH_PASSPHRASE, or asks on the
// terminal (twice when confirm is set, for a new passphrase). Without any it says what
// to do. A new passphrase (confirm) must pass backup.CheckPassphrase, the web app's rule
// too. The file is the way that puts no secret in the environment, where the process's
// own user (and root) can read it in /proc.
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
	if c.passFile != "" {
		return readPassphraseFile(c.passFile)
	}
	if p := c.env.Getenv("KITH_PASSPHRASE"); p != "" {
		return []byte(p), nil
	}
	if c.env.ReadPassword == nil || c.env.IsTerminal == nil || !c.env.IsTerminal(int(os.Stdin.Fd())) {
		return nil, errors.New("a passphrase is needed: run in a terminal, or give --passphrase-file FILE (mode 0600, first line)")
	}
	p, err := c.env.ReadPassword(prompt)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, errors.New("empty passphrase")
	}
	if confirm {
		return p, c.confirm(p)
	}
	return p, nil
}

// ask asks a yes/no question on stderr and reads the answer from standard input; only
// y or yes (any case) is a yes, and no input at all is a no.
func (c *call) ask(question string) bool {
	fmt.Fprint(c.env.Stderr, question)
	if c.env.Stdin == nil {
		fmt.Fprintln(c.env.Stderr)
		return false
	}
	line, _ := bufio.NewReader(c.env.Stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// confirm asks for a new passphrase again and checks that both agree.
func (c *call) confirm(p []byte) error {
	again, err := c.env.ReadPassword("Again: ")
	if err != nil {
		return fmt.Errorf("read passphrase: %w", err)
	}
	if !bytes.Equal(p, again) {
		return errors.New("the two passphrases differ")
	}
	return nil
}

// atRestPassphrase is the passphrase init encrypts the key in the home with: the first
// line of file when given, else asked on a terminal (Enter for none), else none.
func (c *call) atRestPassphrase(file string) ([]byte, error) {
	if file != "" {
		return readPassphraseFile(file)
	}
	if c.env.ReadPassword == nil || c.env.IsTerminal == nil || !c.env.IsTerminal(int(os.Stdin.Fd())) {
		return nil, nil
	}
	p, err := c.env.ReadPassword("Passphrase to encrypt your key on this disk (Enter for none): ")
	if err != nil || len(p) == 0 {
		return nil, err
	}
	return p, c.confirm(p)
}

// unlockPassphrase is the passphrase of a key encrypted at rest, for the daemon: the
// first line of file when given, else asked on a terminal. Never from the environment
// or the command line, where other local users can read it.
func (c *call) unlockPassphrase(file string) ([]byte, error) {
	if file != "" {
		return readPassphraseFile(file)
	}
	if c.env.ReadPassword == nil || c.env.IsTerminal == nil || !c.env.IsTerminal(int(os.Stdin.Fd())) {
		return nil, errors.New("the key is encrypted: give its passphrase with --passphrase-file FILE (mode 0600), or start the daemon in a terminal")
	}
	p, err := c.env.ReadPassword("Passphrase of your key: ")
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	return p, nil
}

// readPassphraseFile reads the first line of a passphrase file that only its owner can
// read.
func readPassphraseFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("passphrase file %s can be read by other users (mode %v): chmod 600 it", path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("passphrase file: %w", err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return nil, fmt.Errorf("passphrase file %s: the first line is empty", path)
	}
	return line, nil
}

// progress returns a meter of bytes (export, import).
func (c *call) progress(label string) func(done, total uint64) {
	return c.meter(label, func(done, _ uint64) string { return humanBytes(done) })
}

// stderrTerminal is standard error when it is a terminal (progress is drawn there).
func (c *call) stderrTerminal() (*os.File, bool) {
	f, ok := c.env.Stderr.(*os.File)
	if !ok || c.env.IsTerminal == nil || !c.env.IsTerminal(int(f.Fd())) {
		return nil, false
	}
	return f, true
}

// meter returns a progress callback that draws on stderr when stderr is a terminal, at
// most ten times a second, and does nothing otherwise: a bar when the total is known,
// the count alone when it is not. what says what the count is.
func (c *call) meter(label string, what func(done, total uint64) string) func(done, total uint64) {
	f, ok := c.stderrTerminal()
	if !ok {
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
