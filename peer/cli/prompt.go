package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// passphrase reads KITH_PASSPHRASE, or asks on the terminal (twice when confirm is set,
// for a new passphrase). Without either it says what to do.
func (c *call) passphrase(prompt string, confirm bool) ([]byte, error) {
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

// confirm asks a yes/no question on stderr and reads the answer from standard input;
// only y or yes (any case) is a yes, and no input at all is a no.
func (c *call) confirm(question string) bool {
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

// workFactor lets tests lower scrypt's cost (KITH_SCRYPT_WORK_FACTOR); 0 means age's default.
func (c *call) workFactor() int {
	n, _ := strconv.Atoi(c.env.Getenv("KITH_SCRYPT_WORK_FACTOR"))
	if n < 10 || n > 22 {
		return 0
	}
	return n
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
