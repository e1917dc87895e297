package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validate --config checks what only gitfleet.yaml decides; without it,
// validate says what it did not check.
func TestValidateWithConfig(t *testing.T) {
	qs := quickstart(t)
	desired, cfg := filepath.Join(qs, "desired"), filepath.Join(qs, "gitfleet.yaml")
	write(t, filepath.Join(desired, "environments/extra.yaml"), "kind: Environment\nname: extra\nservers: [{name: extra-1}]\nconfig:\n  files: [{path: /etc/passwd, content: x}]\n")

	code, out, errs := run("validate", desired)
	if code != 0 {
		t.Fatalf("validate without --config: exit %d, want 0 (roots not checked): %s", code, errs)
	}
	if want := "note: no --config: environmentFiles.roots and database targets were not checked, and the default limits applied"; !strings.Contains(out, want) {
		t.Errorf("validate without --config says nothing of what it did not check; want %q in:\n%s", want, out)
	}

	code, out, errs = run("validate", "--config", cfg, desired)
	if code != 1 {
		t.Fatalf("validate --config: exit %d, want 1; stdout %s", code, out)
	}
	if want := `environments/extra.yaml:5: config.files.0.path "/etc/passwd" is outside the roots of environmentFiles in gitfleet.yaml ()`; !strings.Contains(errs, want) {
		t.Errorf("validate --config lacks %q:\n%s", want, errs)
	}
	if strings.Contains(out, "note: no --config") {
		t.Errorf("validate --config says the roots were not checked:\n%s", out)
	}

	// The configuration's limits and databases apply too.
	b, _ := os.ReadFile(cfg)
	write(t, cfg, string(b)+"\nenvironmentFiles: {roots: [/etc]}\nlimits: {maxFileBytes: 1024}\n")
	write(t, filepath.Join(desired, "releases/production.yaml"), "kind: Release\napp: hello\nenvironment: production\nversion: v1.0.0\ndatabase: {target: orders, changes: [{id: '1', command: 'true', server: prod-1}]}\n# "+strings.Repeat("x", 1100)+"\n")
	code, _, errs = run("validate", "--config", cfg, desired)
	if want := "releases/production.yaml: file is 1250 bytes, more than limits.maxFileBytes (1024)"; code != 1 || !strings.Contains(errs, want) {
		t.Errorf("exit %d, want 1 and %q:\n%s", code, want, errs)
	}
	write(t, filepath.Join(desired, "releases/production.yaml"), "kind: Release\napp: hello\nenvironment: production\nversion: v1.0.0\ndatabase: {target: orders, changes: [{id: '1', command: 'true', server: prod-1}]}\n")
	code, _, errs = run("validate", "--config", cfg, desired)
	if want := `releases/production.yaml:5: database.target "orders" is not a database of gitfleet.yaml (databases: none)`; code != 1 || !strings.Contains(errs, want) {
		t.Errorf("exit %d, want 1 and %q:\n%s", code, want, errs)
	}

	if code, _, errs := run("validate", "--config", filepath.Join(qs, "missing.yaml"), desired); code != 1 || !strings.Contains(errs, "missing.yaml") {
		t.Errorf("a missing configuration: exit %d, stderr %q", code, errs)
	}
}

// An empty desired state is refused unless allowEmpty; plan says which
// servers the daemon's record names that the desired state leaves.
func TestPlanUnmanagedServers(t *testing.T) {
	qs := quickstart(t)
	desired, cfg := filepath.Join(qs, "desired"), filepath.Join(qs, "gitfleet.yaml")
	write(t, filepath.Join(qs, "state/managed.json"), `{"revision":"0123456789abcdef","servers":[{"environment":"production","server":"prod-1"},{"environment":"production","server":"prod-9"}]}`)
	code, out, errs := run("plan", "--config", cfg)
	if code != 2 {
		t.Fatalf("plan: exit %d, want 2: %s", code, errs)
	}
	for _, want := range []string{
		"no longer managed (named by the daemon's desired state at 0123456789ab, not by this one; left as they are, no longer observed or deployed to):\n  production  prod-9\n",
		"2 changes pending, 5 server steps; 1 server no longer managed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}

	for _, f := range []string{"environments.yaml", "releases/production.yaml", "releases/staging.yaml"} {
		if err := os.Remove(filepath.Join(desired, f)); err != nil {
			t.Fatal(err)
		}
	}
	code, _, errs = run("plan", "--config", cfg)
	if want := "the desired state has no Environment: every server would be left unmanaged; set allowEmpty: true in gitfleet.yaml"; code != 1 || !strings.Contains(errs, want) {
		t.Errorf("plan of an empty desired state: exit %d, want 1 and %q:\n%s", code, want, errs)
	}
	b, _ := os.ReadFile(cfg)
	write(t, cfg, string(b)+"\nallowEmpty: true\n")
	code, out, errs = run("plan", "--config", cfg)
	if want := "  production  prod-1\n  production  prod-9\n\n2 servers no longer managed\n"; code != 2 || !strings.Contains(out, want) {
		t.Errorf("plan with allowEmpty: exit %d, want 2 and %q:\n%s%s", code, want, out, errs)
	}
}
