package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestOperationsHaveOneWriter: without a daemon, rollback and sync --retry
// change nothing and say so; --local does the operation in the command,
// holding the daemon's lock, and records it in the daemon's history as
// done by "local"; while a daemon runs, --local is refused and the daemon
// is asked instead.
func TestOperationsHaveOneWriter(t *testing.T) {
	qs := quickstart(t)
	cfg := filepath.Join(qs, "gitfleet.yaml")
	for _, args := range [][]string{
		{"rollback", "--config", cfg, "production", "hello"},
		{"sync", "--retry", "--config", cfg, "production", "hello"},
	} {
		code, out, errOut := run(args...)
		if code != 1 || !strings.Contains(errOut, "no daemon answered") || !strings.Contains(errOut, "nothing was changed") {
			t.Errorf("%s without a daemon: exit %d, want 1: no daemon, nothing changed\n%s%s", args[0], code, out, errOut)
		}
	}
	// Here, holding the lock: the operation is the daemon's own code.
	code, out, errOut := run("sync", "--retry", "--local", "--config", cfg, "production", "hello")
	if code != 0 || !strings.Contains(out, "production/hello: recorded failures cleared on 0 servers") {
		t.Errorf("sync --retry --local: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run("rollback", "--local", "--config", cfg, "production", "hello")
	if code != 1 || !strings.Contains(errOut, "production/hello is released with strategy live: rollback switches a parallel (blue/green) release back") {
		t.Errorf("rollback --local of a live release: exit %d, want 1 and the reason\n%s%s", code, out, errOut)
	}

	d := startDaemon(t, cfg)
	code, out, errOut = run("sync", "--retry", "--local", "--config", cfg, "production", "hello")
	if code != 1 || !strings.Contains(errOut, "is in use by another gitfleet") || !strings.Contains(errOut, "without --local the running daemon is asked") {
		t.Errorf("--local beside a daemon: exit %d, want 1: the lock is the daemon's\n%s%s", code, out, errOut)
	}
	code, out, errOut = run("history", "--addr", d.addr, "-o", "json")
	if code != 0 || strings.Count(out, `"by": "local"`) != 2 || !strings.Contains(out, `"kind": "retry"`) || !strings.Contains(out, `"kind": "rollback"`) {
		t.Errorf("history: exit %d, want the retry and the refused rollback, by local:\n%s%s", code, out, errOut)
	}
	d.stop()
}
