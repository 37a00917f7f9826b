// Command kith-mutate runs gremlins over each named package with that package's own
// tests only, one package and one worker at a time, and prints one line a package with
// its test efficacy and mutator coverage; it fails when a package is below the bar.
// `make mutate` runs it.
//
// A package may be given as DIR or DIR=FILE,FILE to mutate only those files of it (the
// package's tests all still run). Files of sub-packages are never mutated with their
// parent: each package is judged by its own tests.
//
// Each mutant runs only the tests that run its line (see mutation.CoverMap): before
// gremlins starts, kith-mutate takes one coverage profile a test, then puts itself first
// on gremlins' PATH as `go`, and narrows each `go test` gremlins starts for a mutant with
// -run. gremlins still finds, applies and judges every mutant. --select=false turns this
// off (every mutant runs all the package's tests, as gremlins alone does).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/kithnet/kith/shared/mutation"
)

func main() {
	if filepath.Base(os.Args[0]) == "go" {
		asGo()
		return
	}
	var (
		equivalent = flag.String("equivalent", "mutate-equivalent.txt", "the equivalent-mutants file (package file:line:column MUTATOR reason)")
		figures    = flag.String("figures", "mutate-figures.txt", "where to write the per-package figures too")
		efficacy   = flag.Float64("efficacy", 90, "the lowest test efficacy (percent) a package may have")
		coverage   = flag.Float64("coverage", 80, "the lowest mutator coverage (percent) a package may have")
		workers    = flag.Int("workers", 1, "gremlins workers (the tests of one mutant run at a time per worker)")
		coeff      = flag.Int("timeout-coefficient", 5, "gremlins' test timeout as a multiple of the plain test run's time")
		verbose    = flag.Bool("v", false, "show gremlins' own output")
		selectT    = flag.Bool("select", true, "run each mutant against only the tests whose coverage holds its line")
		skips      = skipFlag{}
	)
	flag.Var(skips, "skip", "DIR:REGEX: leave out DIR's tests matching REGEX (go test -skip) in its runs, e.g. a browser test that takes minutes; repeatable")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: kith-mutate [flags] DIR[=FILE,...]...")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := runner{workers: *workers, coeff: *coeff, verbose: *verbose, skips: skips, selectTests: *selectT}
	ok, err := r.all(ctx, flag.Args(), *equivalent, *figures, *efficacy, *coverage)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kith-mutate:", err)
		os.Exit(1)
	}
	if !ok {
		fmt.Fprintf(os.Stderr, "kith-mutate: below the bar (efficacy %.0f%%, coverage %.0f%%)\n", *efficacy, *coverage)
		os.Exit(1)
	}
}

type runner struct {
	workers, coeff int
	verbose        bool
	skips          skipFlag // package -> go test -skip pattern
	selectTests    bool
}

// skipFlag maps a package directory to the tests its runs leave out.
type skipFlag map[string]string

func (s skipFlag) String() string { return fmt.Sprint(map[string]string(s)) }

func (s skipFlag) Set(v string) error {
	dir, re, ok := strings.Cut(v, ":")
	if !ok || dir == "" || re == "" {
		return errors.New("want DIR:REGEX")
	}
	if _, err := regexp.Compile(re); err != nil {
		return err
	}
	s[filepath.ToSlash(filepath.Clean(dir))] = re
	return nil
}

func (r runner) all(ctx context.Context, args []string, eqFile, figFile string, eff, cov float64) (bool, error) {
	f, err := os.Open(eqFile)
	if err != nil {
		return false, err
	}
	eq, err := mutation.ParseEquivalents(f)
	f.Close()
	if err != nil {
		return false, fmt.Errorf("%s: %w", eqFile, err)
	}
	out, err := os.Create(figFile)
	if err != nil {
		return false, err
	}
	defer out.Close()
	w := io.MultiWriter(os.Stdout, out)
	pass := true
	for _, arg := range args {
		pkg, files, _ := strings.Cut(arg, "=")
		pkg = filepath.ToSlash(filepath.Clean(pkg))
		rep, err := r.unleash(ctx, pkg, files)
		if err != nil {
			return false, fmt.Errorf("%s: %w", pkg, err)
		}
		var only []string
		if files != "" {
			only = strings.Split(files, ",")
		}
		fig, err := mutation.Score(pkg, rep, mutation.InFiles(eq, pkg, only))
		if err != nil {
			return false, err
		}
		verdict := "ok"
		if !fig.Pass(eff, cov) {
			verdict, pass = "BELOW THE BAR", false
		}
		scope := ""
		if files != "" {
			scope = " [files " + files + "]"
		}
		if re := r.skips[pkg]; re != "" {
			scope += " [tests skipped: " + re + "]"
		}
		fmt.Fprintf(w, "%s  %s%s\n", fig, verdict, scope)
		for _, m := range fig.Survivors {
			fmt.Fprintf(w, "    lived:       %s\n", m)
		}
		for _, m := range fig.Uncovered {
			fmt.Fprintf(w, "    not covered: %s\n", m)
		}
	}
	return pass, nil
}

// unleash runs gremlins over one package and returns its report.
func (r runner) unleash(ctx context.Context, pkg, files string) (mutation.Report, error) {
	tmp, err := os.MkdirTemp("", "kith-mutate-")
	if err != nil {
		return mutation.Report{}, err
	}
	defer os.RemoveAll(tmp)
	exclude, err := excludes(pkg, files)
	if err != nil {
		return mutation.Report{}, err
	}
	report := filepath.Join(tmp, "report.json")
	realGo, err := exec.LookPath("go")
	if err != nil {
		return mutation.Report{}, err
	}
	gremlins, err := toolPath(ctx, realGo, "gremlins")
	if err != nil {
		return mutation.Report{}, err
	}
	args := []string{"unleash", "--workers", fmt.Sprint(r.workers),
		"--timeout-coefficient", fmt.Sprint(r.coeff), "-o", report}
	for _, e := range exclude {
		args = append(args, "-E", e)
	}
	args = append(args, "./"+pkg)
	cmd := exec.CommandContext(ctx, gremlins, args...)
	// gremlins copies the module per worker under TMPDIR: keep that inside tmp.
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	if re := r.skips[pkg]; re != "" {
		cmd.Env = append(cmd.Env, "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -skip="+re))
	}
	if r.selectTests {
		env, err := r.selection(ctx, realGo, pkg, tmp)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kith-mutate: %s: every mutant runs every test: %v\n", pkg, err)
		}
		cmd.Env = append(cmd.Env, env...)
	}
	var log strings.Builder
	prog := &progress{pkg: pkg, every: 50, out: os.Stderr}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&log, prog), &log
	if r.verbose {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	fmt.Fprintf(os.Stderr, "kith-mutate: %s ...\n", pkg)
	if err := cmd.Run(); err != nil {
		return mutation.Report{}, fmt.Errorf("gremlins: %w\n%s", err, log.String())
	}
	if b, err := os.ReadFile(filepath.Join(tmp, "fallbacks.txt")); err == nil {
		fmt.Fprintf(os.Stderr, "kith-mutate: %s: runs that fell back to every test:\n%s", pkg, b)
	}
	f, err := os.Open(report)
	if errors.Is(err, os.ErrNotExist) {
		return mutation.Report{}, nil // no mutant at all
	}
	if err != nil {
		return mutation.Report{}, err
	}
	defer f.Close()
	return mutation.ParseReport(f)
}

// excludes returns gremlins exclusion patterns (gremlins matches paths relative to the
// package directory) for the files of sub-packages of pkg and, when files is not empty,
// for the other files of pkg.
func excludes(pkg, files string) ([]string, error) {
	out := []string{"/"} // a file in a sub-directory: a sub-package
	if files == "" {
		return out, nil
	}
	keep := map[string]bool{}
	for _, f := range strings.Split(files, ",") {
		keep[f] = true
	}
	ents, err := os.ReadDir(pkg)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") || keep[n] {
			delete(keep, n)
			continue
		}
		out = append(out, "^"+regexp.QuoteMeta(n)+"$")
	}
	for f := range keep {
		return nil, fmt.Errorf("%s has no file %s", pkg, f)
	}
	return out, nil
}

// progress tells the operator, every so many mutants gremlins judged, how far a
// package's run is (gremlins' own lines are kept for an error report only).
type progress struct {
	pkg     string
	every   int
	out     io.Writer
	n       int
	partial []byte
}

func (p *progress) Write(b []byte) (int, error) {
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(p.partial[:i])
		p.partial = p.partial[i+1:]
		for _, st := range []string{"KILLED", "LIVED", "TIMED OUT", "NOT VIABLE"} {
			if strings.Contains(line, st) {
				p.n++
				if p.n%p.every == 0 {
					fmt.Fprintf(p.out, "kith-mutate: %s: %d mutants judged\n", p.pkg, p.n)
				}
				break
			}
		}
	}
}
