package deploy

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// parseDockerfile parses src as BuildKit does, into stages of typed instructions.
func parseDockerfile(src string) ([]instructions.Stage, error) {
	ast, err := parser.Parse(strings.NewReader(src))
	if err != nil {
		return nil, err
	}
	stages, _, err := instructions.Parse(ast.AST, nil)
	return stages, err
}

// checkDockerfile lists what is wrong with an image build: fewer than two stages, a base
// image that is not pinned to a tag (or is `latest`), a final stage running as root.
func checkDockerfile(stages []instructions.Stage) []string {
	var problems []string
	if len(stages) < 2 {
		problems = append(problems, fmt.Sprintf("%d stage(s), want a multi-stage build (builder + runtime)", len(stages)))
	}
	var earlier []string
	for _, s := range stages {
		if p := checkBase(s.BaseName, earlier); p != "" {
			problems = append(problems, fmt.Sprintf("stage %q: %s", s.Name, p))
		}
		earlier = append(earlier, strings.ToLower(s.Name))
	}
	if len(stages) == 0 {
		return problems
	}
	final := stages[len(stages)-1]
	user := ""
	for _, cmd := range final.Commands {
		if u, ok := cmd.(*instructions.UserCommand); ok {
			user = u.User
		}
	}
	if name, _, _ := strings.Cut(user, ":"); name == "" || name == "root" || name == "0" || strings.Contains(name, "$") {
		problems = append(problems, fmt.Sprintf("final stage runs as user %q, want a fixed non-root USER", user))
	}
	return problems
}

// checkBase says what is wrong with a FROM reference, or "" when it names an earlier
// stage, scratch, or an image pinned to a tag other than latest or to a digest.
func checkBase(base string, earlierStages []string) string {
	if slices.Contains(earlierStages, strings.ToLower(base)) || base == "scratch" {
		return ""
	}
	if strings.Contains(base, "$") {
		return fmt.Sprintf("base image %q depends on a build argument; pin it in the file", base)
	}
	ref, err := reference.ParseNormalizedNamed(base)
	if err != nil {
		return fmt.Sprintf("base image %q: %v", base, err)
	}
	if _, ok := ref.(reference.Digested); ok {
		return ""
	}
	tagged, ok := ref.(reference.Tagged)
	if !ok {
		return fmt.Sprintf("base image %q has no tag (that means latest); pin a version", base)
	}
	if tagged.Tag() == "latest" {
		return fmt.Sprintf("base image %q uses the latest tag; pin a version", base)
	}
	return ""
}

func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages, err := parseDockerfile(string(src))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	for _, p := range checkDockerfile(stages) {
		t.Error(p)
	}
	if len(stages) < 2 {
		return
	}
	build, final := stages[0], stages[len(stages)-1]
	if want := "golang:" + goVersion(t) + "-"; !strings.HasPrefix(build.BaseName, want) {
		t.Errorf("builder stage from %q, want %s... (the Go release go.mod asks for, on a pinned OS)", build.BaseName, want)
	}
	var cgoOff, trimpath bool
	for _, cmd := range build.Commands {
		switch c := cmd.(type) {
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				cgoOff = cgoOff || (kv.Key == "CGO_ENABLED" && kv.Value == "0")
			}
		case *instructions.RunCommand:
			line := strings.Join(c.CmdLine, " ")
			trimpath = trimpath || (strings.Contains(line, "go build") && strings.Contains(line, "-trimpath"))
		}
	}
	if !cgoOff || !trimpath {
		t.Errorf("builder: CGO_ENABLED=0 set: %v, go build -trimpath: %v; want static, reproducible binaries", cgoOff, trimpath)
	}
	var copied, exposed []string
	var entrypoint []string
	for _, cmd := range final.Commands {
		switch c := cmd.(type) {
		case *instructions.CopyCommand:
			if c.From == build.Name {
				copied = append(copied, c.SourcePaths...)
			}
		case *instructions.ExposeCommand:
			exposed = append(exposed, c.Ports...)
		case *instructions.EntrypointCommand:
			entrypoint = c.CmdLine
		}
	}
	for _, bin := range []string{"/out/kith-rendezvous", "/out/kith"} {
		if !slices.Contains(copied, bin) {
			t.Errorf("final stage does not copy %s from the builder (copies %v)", bin, copied)
		}
	}
	for _, port := range []string{fmt.Sprintf("%d/tcp", grpcPort), fmt.Sprintf("%d/udp", stunPort), fmt.Sprintf("%d/tcp", metricsPort)} {
		if !slices.Contains(exposed, port) {
			t.Errorf("final stage does not EXPOSE %s (exposes %v)", port, exposed)
		}
	}
	if len(entrypoint) == 0 || !strings.HasSuffix(entrypoint[0], "/kith-rendezvous") {
		t.Errorf("ENTRYPOINT %q, want kith-rendezvous in exec form", entrypoint)
	}
}

// goVersion is the go directive of the module's go.mod.
func goVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("go.mod has no go directive")
	return ""
}

// TestCheckDockerfileRejects proves the checks can fail.
func TestCheckDockerfileRejects(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"single stage", "FROM golang:1.26.8\nUSER 1000\n", "multi-stage"},
		{"latest tag", "FROM golang:latest AS b\nFROM scratch\nUSER 1000\n", "latest"},
		{"untagged", "FROM golang AS b\nFROM scratch\nUSER 1000\n", "no tag"},
		{"no user", "FROM golang:1.26.8 AS b\nFROM scratch\n", "non-root"},
		{"root user", "FROM golang:1.26.8 AS b\nFROM scratch\nUSER 1000\nUSER root:root\n", "non-root"},
		{"uid 0", "FROM golang:1.26.8 AS b\nFROM scratch\nUSER 0\n", "non-root"},
		{"arg base", "ARG V=1\nFROM golang:${V} AS b\nFROM scratch\nUSER 1000\n", "build argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stages, err := parseDockerfile(tt.src)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			problems := checkDockerfile(stages)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("problems %q, want one mentioning %q", problems, tt.want)
			}
		})
	}
	ok := "FROM golang:1.26.8 AS b\nFROM gcr.io/distroless/static-debian12@sha256:" + strings.Repeat("a", 64) + "\nUSER 65532:65532\n"
	stages, err := parseDockerfile(ok)
	if err != nil {
		t.Fatal(err)
	}
	if p := checkDockerfile(stages); len(p) != 0 {
		t.Errorf("a good Dockerfile is refused: %q", p)
	}
}
