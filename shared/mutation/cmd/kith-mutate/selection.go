package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kithnet/kith/shared/mutation"
)

// The environment kith-mutate hands its `go` stand-in.
const (
	envGo     = "KITH_MUTATE_GO"     // the real go command
	envMap    = "KITH_MUTATE_MAP"    // the package's CoverMap (JSON)
	envSrc    = "KITH_MUTATE_SRC"    // the package's directory in the unmutated module
	envRel    = "KITH_MUTATE_REL"    // the package's directory relative to the module root
	envReport = "KITH_MUTATE_REPORT" // where the stand-in notes a selection it could not make
)

// toolPath returns the executable `go tool NAME` runs (built into the cache if need be).
func toolPath(ctx context.Context, goCmd, name string) (string, error) {
	out, err := exec.CommandContext(ctx, goCmd, "tool", "-n", name).Output()
	if err != nil {
		return "", fmt.Errorf("go tool -n %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// selection takes one coverage profile a test of pkg and returns the environment that
// makes gremlins' `go test` runs select by it: this executable first on PATH as `go`.
func (r runner) selection(ctx context.Context, realGo, pkg, tmp string) ([]string, error) {
	cm, err := coverMap(ctx, realGo, pkg, r.skips[pkg], tmp)
	if err != nil {
		return nil, err
	}
	mapFile := filepath.Join(tmp, "covermap.json")
	f, err := os.Create(mapFile)
	if err != nil {
		return nil, err
	}
	if err := mutation.WriteCoverMap(f, cm); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(tmp, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		return nil, err
	}
	if err := os.Symlink(self, filepath.Join(bin, "go")); err != nil {
		return nil, err
	}
	src, err := filepath.Abs(pkg)
	if err != nil {
		return nil, err
	}
	return []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		envGo + "=" + realGo, envMap + "=" + mapFile, envSrc + "=" + src, envRel + "=" + pkg,
		envReport + "=" + filepath.Join(tmp, "fallbacks.txt"),
	}, nil
}

// coverMap runs each top-level test of pkg alone, with coverage, and maps which lines
// each ran. A test that fails alone makes the selection unsafe, so it is an error.
func coverMap(ctx context.Context, goCmd, pkg, skip, tmp string) (*mutation.CoverMap, error) {
	ip, err := exec.CommandContext(ctx, goCmd, "list", "-f", "{{.ImportPath}}", "./"+pkg).Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	importPath := strings.TrimSpace(string(ip))
	bin := filepath.Join(tmp, "cover.test")
	build := exec.CommandContext(ctx, goCmd, "test", "-c", "-cover", "-covermode=set", "-o", bin, "./"+pkg)
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go test -c: %w\n%s", err, out)
	}
	list := exec.CommandContext(ctx, bin, "-test.list", ".*")
	list.Dir = pkg
	out, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("listing tests: %w", err)
	}
	cm := &mutation.CoverMap{}
	for i, name := range strings.Fields(string(out)) {
		if strings.HasPrefix(name, "Benchmark") {
			continue
		}
		prof := filepath.Join(tmp, fmt.Sprintf("cover-%d.out", i))
		args := []string{"-test.run", mutation.RunPattern([]string{name}), "-test.count=1",
			"-test.timeout=10m", "-test.coverprofile=" + prof}
		if skip != "" {
			args = append(args, "-test.skip", skip)
		}
		run := exec.CommandContext(ctx, bin, args...)
		run.Dir = pkg
		if out, err := run.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s fails when run alone: %w\n%s", name, err, tail(out))
		}
		f, err := os.Open(prof)
		if err != nil {
			return nil, err
		}
		err = cm.AddProfile(name, importPath, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(cm.Tests) == 0 {
		return nil, errors.New("no test")
	}
	return cm, nil
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}

// asGo is kith-mutate standing in for `go` under gremlins. A `go test` run over a
// package holding a mutant gets -run narrowed to the tests that ran the mutant's line
// (and -vet=off: vet judges nothing here); anything else, and any doubt, runs as asked.
func asGo() {
	realGo := os.Getenv(envGo)
	if realGo == "" {
		fmt.Fprintln(os.Stderr, "kith-mutate: run as go without "+envGo)
		os.Exit(3)
	}
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "test" {
		if tests, err := selectFor(); err != nil {
			note(err)
		} else if len(tests) > 0 {
			args = append([]string{"test", "-vet=off", "-run", mutation.RunPattern(tests)}, args[1:]...)
		}
	}
	err := syscall.Exec(realGo, append([]string{realGo}, args...), os.Environ())
	fmt.Fprintln(os.Stderr, "kith-mutate: exec go:", err)
	os.Exit(3)
}

// note records, for the operator, a run that fell back to every test.
func note(err error) {
	if p := os.Getenv(envReport); p != "" {
		if f, ferr := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); ferr == nil {
			fmt.Fprintln(f, err)
			f.Close()
		}
	}
}

// selectFor finds the mutated file of the package under the working directory by
// comparing it with the unmutated source, and returns the tests that ran the changed
// line. No mutated file (gremlins' own coverage run) returns none and no error.
func selectFor() ([]string, error) {
	mapFile, src, rel := os.Getenv(envMap), os.Getenv(envSrc), os.Getenv(envRel)
	if mapFile == "" || src == "" || rel == "" {
		return nil, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	// gremlins runs go test in the package's directory of its copy of the module.
	dir := wd
	if !strings.HasSuffix(filepath.ToSlash(wd), "/"+filepath.ToSlash(rel)) {
		dir = filepath.Join(wd, rel)
	}
	if dir == src {
		return nil, nil // the unmutated module itself
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		orig, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			return nil, err
		}
		mut, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		if bytes.Equal(orig, mut) {
			continue
		}
		line, ok := mutation.ChangedLine(orig, mut)
		if !ok {
			continue // printed anew, the same tokens
		}
		f, err := os.Open(mapFile)
		if err != nil {
			return nil, err
		}
		cm, err := mutation.ReadCoverMap(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		tests := cm.Select(n, line)
		if len(tests) == 0 {
			return nil, fmt.Errorf("%s:%d: no test ran this line; running every test", n, line)
		}
		return tests, nil
	}
	return nil, nil
}
