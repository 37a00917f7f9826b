package mutation

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"go/scanner"
	"go/token"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Test selection. A mutant changes one token on one line; a test that never runs that
// line cannot tell the mutant from the original. So each mutant need only run the tests
// whose coverage holds its line: gremlins still applies every mutant and judges it, but
// the `go test` it starts is narrowed to those tests. The selection comes from one
// coverage profile a test, taken in the same package with the same skipped tests, and
// errs wide: a line counts as run by every test that ran any block spanning it.

// CoverMap says which tests ran which lines of one package's files.
type CoverMap struct {
	Tests  []string           `json:"tests"`
	Blocks map[string][]Block `json:"blocks"` // file name (no directory) -> blocks
}

// Block is a run of lines some tests ran, and which tests (indexes into Tests).
type Block struct {
	From, To int   // lines, inclusive
	Tests    []int `json:"tests"`
}

// ErrNotACoverProfile is a coverage profile that does not read as `go test -coverprofile`
// writes one.
var ErrNotACoverProfile = errors.New("not a coverage profile")

// profileLine is "importpath/file.go:L1.C1,L2.C2 statements count".
var profileLine = regexp.MustCompile(`^(.+):(\d+)\.\d+,(\d+)\.\d+ \d+ (\d+)$`)

// AddProfile records the blocks test ran in the profile r, keeping those of files in
// the package importPath itself (not of its sub-packages).
func (c *CoverMap) AddProfile(test, importPath string, r io.Reader) error {
	if c.Blocks == nil {
		c.Blocks = map[string][]Block{}
	}
	idx := len(c.Tests)
	c.Tests = append(c.Tests, test)
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			if !strings.HasPrefix(line, "mode: ") {
				return fmt.Errorf("%w: first line %q", ErrNotACoverProfile, line)
			}
			first = false
			continue
		}
		if line == "" {
			continue
		}
		m := profileLine.FindStringSubmatch(line)
		if m == nil {
			return fmt.Errorf("%w: line %q", ErrNotACoverProfile, line)
		}
		dir, file, ok := cutLast(m[1], "/")
		if !ok || dir != importPath || m[4] == "0" {
			continue
		}
		from, _ := strconv.Atoi(m[2])
		to, _ := strconv.Atoi(m[3])
		c.Blocks[file] = append(c.Blocks[file], Block{From: from, To: to, Tests: []int{idx}})
	}
	if first {
		return fmt.Errorf("%w: empty", ErrNotACoverProfile)
	}
	return sc.Err()
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+len(sep):], true
}

// Select returns the tests that ran line of file, sorted. None means no test ran it.
func (c *CoverMap) Select(file string, line int) []string {
	seen := map[int]bool{}
	for _, b := range c.Blocks[file] {
		if b.From <= line && line <= b.To {
			for _, t := range b.Tests {
				seen[t] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, c.Tests[t])
	}
	sort.Strings(out)
	return out
}

// RunPattern is a `go test -run` pattern matching exactly the top-level tests named.
func RunPattern(tests []string) string {
	q := make([]string, len(tests))
	for i, t := range tests {
		q[i] = regexp.QuoteMeta(t)
	}
	return "^(" + strings.Join(q, "|") + ")$"
}

// ChangedLine compares a Go file with a mutated copy of it token by token (the mutated
// copy may be printed with other spacing) and returns the line, in the original, of the
// first token that differs. ok is false when the token streams are the same.
func ChangedLine(orig, mutated []byte) (line int, ok bool) {
	a, b := tokens(orig), tokens(mutated)
	for i := range a {
		if i >= len(b) || a[i].tok != b[i].tok || a[i].lit != b[i].lit {
			return a[i].line, true
		}
	}
	if len(b) > len(a) {
		if len(a) == 0 {
			return 1, true
		}
		return a[len(a)-1].line, true
	}
	return 0, false
}

type tok struct {
	tok  token.Token
	lit  string
	line int
}

func tokens(src []byte) []tok {
	fs := token.NewFileSet()
	f := fs.AddFile("", -1, len(src))
	var s scanner.Scanner
	s.Init(f, src, nil, 0) // comments skipped: a mutant never changes one
	var out []tok
	for {
		pos, t, lit := s.Scan()
		if t == token.EOF {
			return out
		}
		if t == token.SEMICOLON && lit == "\n" {
			continue // an inserted semicolon: where lines break, not what they say
		}
		out = append(out, tok{t, lit, f.Line(pos)})
	}
}

// WriteCoverMap and ReadCoverMap store a CoverMap as JSON.
func WriteCoverMap(w io.Writer, c *CoverMap) error { return json.NewEncoder(w).Encode(c) }

// ReadCoverMap reads what WriteCoverMap wrote.
func ReadCoverMap(r io.Reader) (*CoverMap, error) {
	var c CoverMap
	if err := json.NewDecoder(r).Decode(&c); err != nil {
		return nil, err
	}
	return &c, nil
}
