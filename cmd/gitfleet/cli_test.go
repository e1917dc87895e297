package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// quickstart copies examples/quickstart (without its state) to a temporary
// directory and returns the copy's path.
func quickstart(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "..", "examples", "quickstart")
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "state" {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatalf("copy quickstart: %v", err)
	}
	return dst
}

func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = execute(args, &out, &errb)
	return code, out.String(), errb.String()
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestValidateQuickstart(t *testing.T) {
	code, out, errs := run("validate", filepath.Join(quickstart(t), "desired"))
	if code != 0 {
		t.Fatalf("exit %d, want 0: %s", code, errs)
	}
	if !strings.Contains(out, "ok: 2 environments (5 servers), 1 apps, 2 releases") {
		t.Errorf("unexpected output: %s", out)
	}
}

// TestBadInput checks that each kind of bad input is refused with an error
// naming the file and line, by validate and by plan, and that plan changes
// nothing on the fleet.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(t *testing.T, desired string)
		wants []string
	}{
		{
			name: "malformed YAML",
			edit: func(t *testing.T, d string) {
				write(t, filepath.Join(d, "releases/production.yaml"), "kind: Release\napp: [hello\n")
			},
			wants: []string{"releases/production.yaml:2: "},
		},
		{
			name: "unknown field",
			edit: func(t *testing.T, d string) {
				write(t, filepath.Join(d, "releases/production.yaml"), "kind: Release\napp: hello\nenvironment: production\nversion: v1.0.0\nreplicas: 3\n")
			},
			wants: []string{`releases/production.yaml:5: unknown field "replicas"`},
		},
		{
			name: "duplicate release for the same app and environment",
			edit: func(t *testing.T, d string) {
				write(t, filepath.Join(d, "releases/zz-again.yaml"), "kind: Release\napp: hello\nenvironment: production\nversion: v1.1.0\n")
			},
			wants: []string{`releases/zz-again.yaml:1: duplicate Release of app "hello" in environment "production" (first defined at releases/production.yaml:2)`},
		},
		{
			name: "release for an unknown app",
			edit: func(t *testing.T, d string) {
				write(t, filepath.Join(d, "releases/api.yaml"), "kind: Release\napp: api\nenvironment: production\nversion: v1.0.0\n")
			},
			wants: []string{`releases/api.yaml:2: release names unknown App "api"`},
		},
		{
			name: "artifact path escaping the repository",
			edit: func(t *testing.T, d string) {
				p := filepath.Join(d, "apps/hello.yaml")
				b, _ := os.ReadFile(p)
				write(t, p, strings.Replace(string(b), "path: artifacts/hello", "path: ../../../etc", 1))
			},
			wants: []string{`apps/hello.yaml:5: artifact.path "../../../etc" escapes the repository`},
		},
		{
			name: "artifact containing a symlink to /etc/passwd",
			edit: func(t *testing.T, d string) {
				if err := os.Symlink("/etc/passwd", filepath.Join(d, "artifacts/hello/v1.0.0/passwd")); err != nil {
					t.Fatal(err)
				}
			},
			wants: []string{"releases/production.yaml:5: hello v1.0.0: artifact artifacts/hello/v1.0.0/passwd: symlink to absolute path /etc/passwd is not allowed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qs := quickstart(t)
			desired := filepath.Join(qs, "desired")
			tt.edit(t, desired)

			code, _, errs := run("validate", desired)
			if code != 1 {
				t.Errorf("validate: exit %d, want 1", code)
			}
			code, out, perrs := run("plan", "--config", filepath.Join(qs, "gitfleet.yaml"))
			if code != 1 {
				t.Errorf("plan: exit %d, want 1 (stdout %s)", code, out)
			}
			for _, w := range tt.wants {
				if !strings.Contains(errs, w) {
					t.Errorf("validate output lacks %q:\n%s", w, errs)
				}
				if !strings.Contains(perrs, w) {
					t.Errorf("plan output lacks %q:\n%s", w, perrs)
				}
			}
			if _, err := os.Stat(filepath.Join(qs, "state")); err == nil {
				t.Error("plan created the state directory; it must change nothing")
			}
		})
	}
}

func TestPlanExitCodes(t *testing.T) {
	qs := quickstart(t)
	cfg := filepath.Join(qs, "gitfleet.yaml")
	code, out, errs := run("plan", "--config", cfg)
	if code != 2 {
		t.Fatalf("plan on an empty fleet: exit %d, want 2 (changes pending): %s %s", code, out, errs)
	}
	for _, w := range []string{"production/hello v1.0.0: live rollout of v1.0.0-", "prod-1  (none) → v1.0.0-", "2 changes pending, 5 server steps"} {
		if !strings.Contains(out, w) {
			t.Errorf("plan text lacks %q:\n%s", w, out)
		}
	}
	code, out, _ = run("plan", "--config", cfg, "-o", "json")
	if code != 2 || !strings.Contains(out, `"lane": "files"`) || !strings.Contains(out, `"server": "staging-2"`) {
		t.Errorf("plan -o json: exit %d, output:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(qs, "state")); err == nil {
		t.Error("plan changed the fleet (state directory exists)")
	}
	if code, _, errs := run("plan", "--config", filepath.Join(qs, "missing.yaml")); code != 1 || !strings.Contains(errs, "missing.yaml") {
		t.Errorf("plan with a missing config: exit %d, stderr %q; want 1 naming the file", code, errs)
	}
	write(t, cfg+".bad", "source: {directory: {path: desired}}\ntransport: {type: local, local: {rot: x}}\nstateDir: state\n")
	if code, _, errs := run("plan", "--config", cfg+".bad"); code != 1 || !strings.Contains(errs, `gitfleet.yaml.bad:2: unknown field "rot"`) {
		t.Errorf("plan with an unknown config key: exit %d, stderr %q", code, errs)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run("version")
	if code != 0 || !strings.HasPrefix(out, "gitfleet dev (go") {
		t.Errorf("version: exit %d, output %q", code, out)
	}
}
