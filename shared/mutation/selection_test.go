package mutation

import (
	"bytes"
	"errors"
	"go/ast"
	"go/format"
	"go/parser"
	"go/printer"
	"go/token"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const ip = "github.com/kithnet/kith/peer/feed"

func TestCoverMapSelect(t *testing.T) {
	var cm CoverMap
	add := func(test, prof string) {
		t.Helper()
		if err := cm.AddProfile(test, ip, strings.NewReader(prof)); err != nil {
			t.Fatal(err)
		}
	}
	add("TestA", "mode: set\n"+
		ip+"/feed.go:10.2,12.3 2 1\n"+
		ip+"/feed.go:20.2,20.9 1 0\n"+ // not run
		ip+"/sub/x.go:10.2,12.3 1 1\n") // a sub-package's file: not this package's
	add("TestB", "mode: set\n"+
		ip+"/feed.go:12.1,15.3 2 1\n"+
		ip+"/other.go:1.1,3.2 1 1\n")
	add("TestC", "mode: set\n")

	for _, c := range []struct {
		file string
		line int
		want []string
	}{
		{"feed.go", 9, []string{}},
		{"feed.go", 10, []string{"TestA"}},
		{"feed.go", 12, []string{"TestA", "TestB"}}, // both blocks span it
		{"feed.go", 15, []string{"TestB"}},
		{"feed.go", 16, []string{}},
		{"feed.go", 20, []string{}}, // a block no test ran
		{"other.go", 2, []string{"TestB"}},
		{"x.go", 11, []string{}},
	} {
		if got := cm.Select(c.file, c.line); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Select(%s, %d) = %v, want %v", c.file, c.line, got, c.want)
		}
	}

	var buf bytes.Buffer
	if err := WriteCoverMap(&buf, &cm); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCoverMap(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Select("feed.go", 12), []string{"TestA", "TestB"}) {
		t.Errorf("read back: %+v", back)
	}
}

func TestAddProfileRefusesGarbage(t *testing.T) {
	for _, prof := range []string{"", "feed.go:1.1,2.2 1 1\n", "mode: set\nnot a block\n", "mode: set\n" + ip + "/feed.go:1.1,2.2 one 1\n"} {
		var cm CoverMap
		if err := cm.AddProfile("TestX", ip, strings.NewReader(prof)); !errors.Is(err, ErrNotACoverProfile) {
			t.Errorf("AddProfile(%q) = %v, want ErrNotACoverProfile", prof, err)
		}
	}
}

func TestRunPattern(t *testing.T) {
	re := regexp.MustCompile(RunPattern([]string{"TestA", "TestA_b.c"}))
	for name, want := range map[string]bool{"TestA": true, "TestA_b.c": true, "TestA_bxc": false, "TestAB": false, "XTestA": false} {
		if re.MatchString(name) != want {
			t.Errorf("%s matched %v", name, !want)
		}
	}
}

const src = `package p

// Limit says how far.
func Limit(a, b int) bool {
	x := a + b    // sum
	longer := 100 // aligned with the line above
	return x < longer
}
`

// mutate applies a mutation the way gremlins does: the token changed in the AST, the
// file printed with go/printer (not gofmt), which may align comments anew.
func mutate(t *testing.T, from, to token.Token, nth int) []byte {
	t.Helper()
	fs := token.NewFileSet()
	f, err := parser.ParseFile(fs, "p.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	var found bool
	inspect(f, func(op *token.Token) {
		if *op == from {
			if seen == nth {
				*op, found = to, true
			}
			seen++
		}
	})
	if !found {
		t.Fatalf("no %s number %d", from, nth)
	}
	var buf bytes.Buffer
	if err := printer.Fprint(&buf, fs, f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestChangedLine(t *testing.T) {
	if _, ok := ChangedLine([]byte(src), []byte(src)); ok {
		t.Error("an unchanged file has a changed line")
	}
	formatted, err := format.Source([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	reprinted := mutate(t, token.ADD, token.ADD, 0) // printed anew, nothing changed
	if _, ok := ChangedLine(formatted, reprinted); ok {
		t.Error("a file printed anew has a changed line")
	}
	if line, ok := ChangedLine([]byte(src), mutate(t, token.ADD, token.SUB, 0)); !ok || line != 5 {
		t.Errorf("a + b -> a - b: line %d %v, want 5", line, ok)
	}
	// < -> <= widens line 7; printing may realign the lines around it, still line 7.
	if line, ok := ChangedLine([]byte(src), mutate(t, token.LSS, token.LEQ, 0)); !ok || line != 7 {
		t.Errorf("x < longer -> x <= longer: line %d %v, want 7", line, ok)
	}
	if line, ok := ChangedLine([]byte(src), []byte(src+"var z = 1\n")); !ok || line != 8 {
		t.Errorf("tokens added at the end: line %d %v, want 8", line, ok)
	}
}

// inspect calls fn with the operator of every binary expression of f, in source order.
func inspect(f *ast.File, fn func(*token.Token)) {
	ast.Inspect(f, func(n ast.Node) bool {
		if b, ok := n.(*ast.BinaryExpr); ok {
			fn(&b.Op)
		}
		return true
	})
}
