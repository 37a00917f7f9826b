package deploy

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"sigs.k8s.io/yaml"
)

// composeFile is the part of the Compose specification deploy/compose.yaml uses. It is
// decoded strictly: a key it does not know (a typo, or a feature added without updating
// this test) is an error.
type composeFile struct {
	Name     string                    `json:"name"`
	Services map[string]composeService `json:"services"`
}

type composeService struct {
	Image       string                      `json:"image"`
	Build       *composeBuild               `json:"build"`
	Command     []string                    `json:"command"`
	Environment map[string]string           `json:"environment"`
	Ports       []string                    `json:"ports"`
	DependsOn   map[string]composeDependsOn `json:"depends_on"`
	Healthcheck *composeHealthcheck         `json:"healthcheck"`
	ReadOnly    bool                        `json:"read_only"`
	CapDrop     []string                    `json:"cap_drop"`
	SecurityOpt []string                    `json:"security_opt"`
	Restart     string                      `json:"restart"`
}

type composeBuild struct {
	Context    string `json:"context"`
	Dockerfile string `json:"dockerfile"`
}

type composeDependsOn struct {
	Condition string `json:"condition"`
}

type composeHealthcheck struct {
	Test        []string `json:"test"`
	Interval    string   `json:"interval"`
	Timeout     string   `json:"timeout"`
	Retries     int      `json:"retries"`
	StartPeriod string   `json:"start_period"`
}

func parseCompose(data []byte) (composeFile, error) {
	var cf composeFile
	err := yaml.UnmarshalStrict(data, &cf)
	return cf, err
}

// checkCompose lists what keeps cf from being Redis plus two or more rendezvous
// instances sharing it and one TURN secret, each waiting for Redis and health-checked.
func checkCompose(cf composeFile) []string {
	var problems []string
	var redis []string
	for name, s := range cf.Services {
		if strings.HasPrefix(s.Image, "redis:") {
			redis = append(redis, name)
			if s.Healthcheck == nil {
				problems = append(problems, fmt.Sprintf("%s: no healthcheck", name))
			}
		}
	}
	if len(redis) != 1 {
		return append(problems, fmt.Sprintf("Redis services %v, want exactly one", redis))
	}
	redisURL := "redis://" + redis[0] + ":6379"
	var instances []string
	secrets := map[string]bool{}
	hostPorts := map[string]string{}
	for name, s := range cf.Services {
		if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" {
			continue
		}
		instances = append(instances, name)
		if got := s.Environment["KITH_RENDEZVOUS_REDIS"]; got != redisURL {
			problems = append(problems, fmt.Sprintf("%s: KITH_RENDEZVOUS_REDIS %q, want %q", name, got, redisURL))
		}
		secret := s.Environment["KITH_RENDEZVOUS_TURN_SECRET"]
		if !strings.HasPrefix(secret, "${") {
			problems = append(problems, fmt.Sprintf("%s: KITH_RENDEZVOUS_TURN_SECRET %q, want it from the environment (${...}), never in the file", name, secret))
		}
		secrets[secret] = true
		if s.DependsOn[redis[0]].Condition != "service_healthy" {
			problems = append(problems, fmt.Sprintf("%s: does not wait for %s to be healthy", name, redis[0]))
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 || s.Healthcheck.Test[0] != "CMD" {
			problems = append(problems, fmt.Sprintf("%s: healthcheck %+v, want an exec-form CMD (the image has no shell)", name, s.Healthcheck))
		}
		for _, p := range s.Ports {
			host, _, _ := strings.Cut(p, ":")
			if other, dup := hostPorts[host]; dup {
				problems = append(problems, fmt.Sprintf("%s and %s both publish host port %s", other, name, host))
			}
			hostPorts[host] = name
		}
	}
	if len(instances) < 2 {
		problems = append(problems, fmt.Sprintf("rendezvous instances %v, want at least two", instances))
	}
	if len(secrets) > 1 {
		problems = append(problems, "the instances do not share one TURN secret")
	}
	return problems
}

func TestCompose(t *testing.T) {
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cf, err := parseCompose(data)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, p := range checkCompose(cf) {
		t.Error(p)
	}
	for name, s := range cf.Services {
		if s.Build == nil {
			continue
		}
		// Compose resolves the context against the file's folder.
		if _, err := os.Stat(filepath.Join(s.Build.Context, "go.mod")); err != nil {
			t.Errorf("%s: build context %q does not hold go.mod", name, s.Build.Context)
		}
		if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if hc := s.Healthcheck; hc != nil && len(hc.Test) > 1 && !slices.Contains(imageFiles(t), hc.Test[1]) {
			t.Errorf("%s: healthcheck runs %s, which the image does not hold (it has %v)", name, hc.Test[1], imageFiles(t))
		}
		if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) {
			t.Errorf("%s: read_only %v, cap_drop %v; want a read-only root and no capabilities", name, s.ReadOnly, s.CapDrop)
		}
	}
}

// imageFiles lists the files the Dockerfile's final stage copies in from other stages.
func imageFiles(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages, err := parseDockerfile(string(src))
	if err != nil || len(stages) == 0 {
		t.Fatalf("Dockerfile: %v", err)
	}
	var files []string
	for _, cmd := range stages[len(stages)-1].Commands {
		if c, ok := cmd.(*instructions.CopyCommand); ok && c.From != "" {
			for _, p := range c.SourcePaths {
				files = append(files, path.Join(c.DestPath, path.Base(p)))
			}
		}
	}
	return files
}

// TestCheckComposeRejects proves the compose checks can fail.
func TestCheckComposeRejects(t *testing.T) {
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseCompose([]byte(strings.Replace(string(data), "environment: &env", "enviroment: &env", 1))); err == nil {
		t.Error("a misspelled key (enviroment) decoded without error")
	}
	tests := []struct {
		name   string
		change func(*composeFile)
		want   string
	}{
		{"one instance", func(cf *composeFile) { delete(cf.Services, "rendezvous-b") }, "at least two"},
		{"no redis", func(cf *composeFile) { delete(cf.Services, "redis") }, "exactly one"},
		{"other redis", func(cf *composeFile) {
			s := cf.Services["rendezvous-b"]
			s.Environment = map[string]string{"KITH_RENDEZVOUS_REDIS": "redis://elsewhere:6379", "KITH_RENDEZVOUS_TURN_SECRET": "${X}"}
			cf.Services["rendezvous-b"] = s
		}, "KITH_RENDEZVOUS_REDIS"},
		{"secret in file", func(cf *composeFile) {
			s := cf.Services["rendezvous-a"]
			s.Environment = map[string]string{"KITH_RENDEZVOUS_REDIS": "redis://redis:6379", "KITH_RENDEZVOUS_TURN_SECRET": "hunter2"}
			cf.Services["rendezvous-a"] = s
		}, "never in the file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf, err := parseCompose(data)
			if err != nil {
				t.Fatal(err)
			}
			tt.change(&cf)
			problems := checkCompose(cf)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("problems %q, want one mentioning %q", problems, tt.want)
			}
		})
	}
}
