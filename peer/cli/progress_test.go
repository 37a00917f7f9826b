package cli

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The meter draws on a terminal only: a bar when the total is known, the count when not.
func TestMeter(t *testing.T) {
	for _, tc := range []struct {
		terminal   bool
		done, tot  uint64
		want, deny string
	}{
		{true, 50, 100, "export  [###############...............]  50%  50 B", ""},
		{true, 1234, 0, "sync  1234 new or updated posts", "%"},
		{false, 50, 100, "", "export"},
	} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		c := &call{env: Env{Stderr: w, IsTerminal: func(int) bool { return tc.terminal }}}
		label, what := "export", func(done, _ uint64) string { return humanBytes(done) }
		if tc.tot == 0 {
			label, what = "sync", func(done, _ uint64) string { return strconv.FormatUint(done, 10) + " new or updated posts" }
		}
		c.meter(label, what)(tc.done, tc.tot)
		w.Close()
		out, _ := io.ReadAll(r)
		r.Close()
		if tc.want != "" && !strings.Contains(string(out), tc.want) {
			t.Errorf("terminal=%v %d/%d: drew %q, want %q", tc.terminal, tc.done, tc.tot, out, tc.want)
		}
		if tc.want == "" && len(out) != 0 {
			t.Errorf("not a terminal: drew %q, want nothing", out)
		}
		if tc.deny != "" && strings.Contains(string(out), tc.deny) {
			t.Errorf("%d/%d: drew %q, which should not contain %q", tc.done, tc.tot, out, tc.deny)
		}
	}
}
