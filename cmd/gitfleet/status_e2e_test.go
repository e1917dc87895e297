package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestStatusAndHistory: the daemon's API and the status and history
// commands, and a history that survives a restart.
func TestStatusAndHistory(t *testing.T) {
	qs := quickstart(t)
	cfg := filepath.Join(qs, "gitfleet.yaml")
	d := startDaemon(t, cfg)
	d.waitFor("production in sync", func() bool {
		return d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3
	})
	rel := filepath.Join(qs, "desired", "releases", "production.yaml")
	b, _ := os.ReadFile(rel)
	write(t, rel, strings.Replace(string(b), "version: v1.0.0", "version: v1.1.0", 1))
	d.waitFor("production on v1.1.0", func() bool {
		return active(qs, "prod-1") == "v1.1.0" && d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3
	})
	code, out, errOut := run("status", "--addr", d.addr)
	if code != 0 || !regexp.MustCompile(`production/hello\s+v1.1.0\s+3\s+0\s+0\s+0`).MatchString(out) || !strings.Contains(out, "0 pending changes") {
		t.Errorf("status: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = run("history", "--addr", d.addr, "--env", "production")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.Contains(lines[1], "rollout") || !strings.Contains(lines[1], "v1.1.0-") ||
		!strings.Contains(lines[1], "success") || !strings.Contains(lines[2], "v1.0.0-") || strings.Contains(out, "staging") {
		t.Errorf("history --env production: exit %d, want the two production rollouts, newest first:\n%s", code, out)
	}
	d.stop()

	// Another daemon on the same state directory has the same history.
	d = startDaemon(t, cfg)
	code, out, _ = run("history", "--addr", d.addr, "--app", "hello", "-o", "json")
	if code != 0 || strings.Count(out, `"kind": "rollout"`) != 3 {
		t.Errorf("history after a restart: exit %d, want 3 rollouts (staging, production twice):\n%s", code, out)
	}
	d.stop()
	if code, _, errOut := run("status", "--addr", "127.0.0.1:1"); code != 1 || !strings.Contains(errOut, "does not answer") {
		t.Errorf("status without a daemon: exit %d, %s", code, errOut)
	}
}
