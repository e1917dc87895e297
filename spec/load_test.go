package spec

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const validEnv = `kind: Environment
name: production
servers:
  - name: web-1
    address: 10.0.0.11:22
    groups: [web]
  - name: web-2
    groups: [web]
`

const validApp = `kind: App
name: web
artifact: {path: artifacts/web}
deployTo: /srv/web
activate: ./bin/restart
health: {command: "test -f VERSION"}
`

const validRelease = `kind: Release
app: web
environment: production
version: v1.2.0
`

func files(kv ...string) []File {
	var fs []File
	for i := 0; i+1 < len(kv); i += 2 {
		fs = append(fs, File{Path: kv[i], Data: []byte(kv[i+1])})
	}
	return fs
}

func TestLoadValidFillsDefaults(t *testing.T) {
	d, err := Load(files("envs/prod.yaml", validEnv, "apps/web.yaml", validApp+"---\n"+validRelease))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := len(d.Environments[0].Servers); got != 2 {
		t.Fatalf("got %d servers, want 2", got)
	}
	a := d.App("web")
	if a.KeepReleases != DefaultKeepReleases || a.ActivateTimeout != DefaultActivateTimeout {
		t.Errorf("app defaults not filled: keep=%d timeout=%s", a.KeepReleases, a.ActivateTimeout)
	}
	if a.Health.Attempts != 3 || a.Health.Interval != 2*time.Second || a.Health.Timeout != 10*time.Second {
		t.Errorf("health defaults not filled: %+v", a.Health)
	}
	r := d.Releases[0]
	if r.Strategy != Live || r.Live.Parallelism != DefaultLiveParallelism {
		t.Errorf("release defaults not filled: %+v", r)
	}
	if got := r.PosOf("version").String(); got != "apps/web.yaml:11" {
		t.Errorf("version position %s, want apps/web.yaml:11", got)
	}
}

func TestLoadSkipsYAMLInsideArtifacts(t *testing.T) {
	_, err := Load(files(
		"envs/prod.yaml", validEnv,
		"apps/web.yaml", validApp+"---\n"+validRelease,
		"artifacts/web/v1.2.0/config.yaml", "not: [valid yaml",
		"artifacts/web/v1.2.0/deploy.yaml", "kind: Deployment\n",
	))
	if err != nil {
		t.Fatalf("YAML inside an artifact directory must not be read as desired state: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files []File
		want  []string // each must appear in the error text
	}{
		{
			name:  "malformed YAML",
			files: files("envs/prod.yaml", validEnv, "apps/web.yaml", "kind: App\nname: web\nartifact: {path: [x\n"),
			want:  []string{"apps/web.yaml:3: did not find expected"},
		},
		{
			name:  "unknown field",
			files: files("envs/prod.yaml", validEnv, "apps/web.yaml", validApp+"replicas: 3\n---\n"+validRelease),
			want:  []string{`apps/web.yaml:7: unknown field "replicas" (known: `},
		},
		{
			name:  "unknown nested field",
			files: files("envs/prod.yaml", strings.Replace(validEnv, "    groups: [web]\n  - name: web-2", "    groups: [web]\n    port: 22\n  - name: web-2", 1), "apps/web.yaml", validApp+"---\n"+validRelease),
			want:  []string{`envs/prod.yaml:7: unknown field "port" in servers.0`},
		},
		{
			name:  "type error",
			files: files("envs/prod.yaml", validEnv, "apps/web.yaml", validApp+"keepReleases: many\n---\n"+validRelease),
			want:  []string{"apps/web.yaml:7: cannot unmarshal"},
		},
		{
			name:  "duplicate release for the same app and environment",
			files: files("envs/prod.yaml", validEnv, "apps/web.yaml", validApp+"---\n"+validRelease, "releases/again.yaml", validRelease),
			want:  []string{`releases/again.yaml:1: duplicate Release of app "web" in environment "production" (first defined at apps/web.yaml:8)`},
		},
		{
			name:  "release for an unknown app",
			files: files("envs/prod.yaml", validEnv, "apps/web.yaml", validApp, "r.yaml", strings.Replace(validRelease, "app: web", "app: api", 1)),
			want:  []string{`r.yaml:2: release names unknown App "api"`},
		},
		{
			name:  "release for an unknown environment",
			files: files("envs/prod.yaml", validEnv, "apps/web.yaml", validApp, "r.yaml", strings.Replace(validRelease, "production", "prod", 1)),
			want:  []string{`r.yaml:3: release names unknown Environment "prod"`},
		},
		{
			name:  "artifact path escaping the repository",
			files: files("envs/prod.yaml", validEnv, "apps/web.yaml", strings.Replace(validApp, "artifacts/web", "../../etc", 1)),
			want:  []string{`apps/web.yaml:3: artifact.path "../../etc" escapes the repository`},
		},
		{
			name:  "absolute artifact path",
			files: files("envs/prod.yaml", validEnv, "apps/web.yaml", strings.Replace(validApp, "artifacts/web", "/etc", 1)),
			want:  []string{`apps/web.yaml:3: artifact.path "/etc" must be relative`},
		},
		{
			name:  "duplicate environment and server",
			files: files("a.yaml", validEnv, "b.yaml", validEnv),
			want:  []string{`b.yaml:2: duplicate Environment "production" (first defined at a.yaml:1)`, `b.yaml:4: duplicate server "web-1" (first defined at a.yaml:4)`},
		},
		{
			name:  "invalid names",
			files: files("a.yaml", "kind: Environment\nname: Prod_1\nservers: [{name: -bad}]\n"),
			want:  []string{`a.yaml:2: invalid environment name "Prod_1"`, `a.yaml:3: invalid server name "-bad"`},
		},
		{
			name:  "strategy knobs out of range",
			files: files("e.yaml", validEnv, "a.yaml", strings.Replace(validApp, "health: {command: \"test -f VERSION\"}", "health: {command: x, attempts: 1000}", 1)+"keepReleases: 101\n", "r.yaml", validRelease+"strategy: live\nlive: {parallelism: -1}\n"),
			want:  []string{"a.yaml:6: health.attempts 1000 out of range 1..100", "a.yaml:7: keepReleases 101 out of range 1..100", "r.yaml:6: live.parallelism -1 out of range 1..10000"},
		},
		{
			name:  "unknown strategy",
			files: files("e.yaml", validEnv, "a.yaml", validApp, "r.yaml", validRelease+"strategy: yolo\n"),
			want:  []string{`r.yaml:5: unknown strategy "yolo"`},
		},
		{
			name:  "unknown kind and missing kind",
			files: files("x.yaml", "kind: Deployment\nname: x\n---\nname: y\n"),
			want:  []string{`x.yaml:1: unknown kind "Deployment"`, "x.yaml:4: document has no kind"},
		},
		{
			name:  "overlapping deployTo",
			files: files("e.yaml", validEnv, "a.yaml", validApp+"---\n"+strings.Replace(strings.Replace(validApp, "name: web", "name: api", 1), "/srv/web", "/srv/web/api", 1)),
			want:  []string{`overlaps deployTo "/srv/web" of app "web"`},
		},
		{
			name:  "no server in the app's groups",
			files: files("e.yaml", validEnv, "a.yaml", validApp+"groups: [db]\n---\n"+validRelease),
			want:  []string{`a.yaml:9: no server of environment "production" is in the groups [db] of app "web"`},
		},
		{
			name:  "deployTo not absolute",
			files: files("e.yaml", validEnv, "a.yaml", strings.Replace(validApp, "/srv/web", "srv/web", 1)),
			want:  []string{`a.yaml:4: deployTo "srv/web" must be a clean absolute path`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Load(tt.files)
			if err == nil {
				t.Fatalf("Load succeeded (%d releases), want errors %q", len(d.Releases), tt.want)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want spec.Errors", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error text lacks %q; got:\n%s", w, err)
				}
			}
		})
	}
}

func TestLoadCollectsEveryError(t *testing.T) {
	_, err := Load(files(
		"a.yaml", "kind: App\nname: web\nbogus: 1\nartifact: {path: /abs}\ndeployTo: rel\n",
		"r.yaml", "kind: Release\napp: nope\nenvironment: nowhere\nversion: ../x\n",
	))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v, want spec.Errors", err)
	}
	// bogus field stops the App from loading; the release has three problems.
	if len(errs) < 4 {
		t.Fatalf("got %d errors, want at least 4:\n%s", len(errs), err)
	}
}
