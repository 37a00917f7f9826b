package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// multi is a flag that may repeat (--to, --attach, --group).
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// parse parses flags that may come before, between or after positional arguments, as
// people type them (`kith friend add ID --name Bob`). Everything after "--" is positional,
// so a post may start with a dash: `kith post -- "-5 degrees"`.
func parse(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	fs.SetOutput(io.Discard)
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	pos = append(pos, tail...)
	switch {
	case len(pos) < minPos:
		return nil, usagef("missing argument")
	case maxPos >= 0 && len(pos) > maxPos:
		return nil, usagef("unexpected argument %q", pos[maxPos])
	}
	return pos, nil
}

func newFlags(name string) *flag.FlagSet {
	return flag.NewFlagSet(name, flag.ContinueOnError)
}

// splitList splits "a,b,c" (and repeated flags) into a clean list.
func splitList(values ...string) []string {
	var out []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}
