package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
)

// gitQuickstart puts the quickstart's desired state under fleet/ of a new
// remote served over smart HTTP, and writes a gitfleet.yaml that follows its
// branch main with a GitHub webhook. Polling is hourly: only the webhook can
// make the daemon notice a push quickly.
func gitQuickstart(t *testing.T) (qs string, remote *gittest.Remote, url, secret string) {
	qs, remote, srv, secret := gitQuickstartServer(t, "1h")
	return qs, remote, srv.URL + "/fleet.git", secret
}

func gitQuickstartServer(t *testing.T, interval string) (qs string, remote *gittest.Remote, srv *gittest.Server, secret string) {
	t.Helper()
	qs = quickstart(t)
	root := t.TempDir()
	remote = gittest.NewRemote(t, root, "fleet")
	desired := filepath.Join(qs, "desired")
	err := filepath.WalkDir(desired, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(desired, p)
		target := filepath.Join(remote.Work, "fleet", rel)
		os.MkdirAll(filepath.Dir(target), 0o755)
		info, _ := os.Lstat(p)
		if info.Mode()&fs.ModeSymlink != 0 {
			link, _ := os.Readlink(p)
			return os.Symlink(link, target)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	remote.Commit("quickstart")
	remote.Push()
	srv = gittest.Serve(t, root, "", "")
	secret = "webhook-secret"
	write(t, filepath.Join(qs, "github.secret"), secret+"\n")
	write(t, filepath.Join(qs, "gitfleet.yaml"), `source:
  git:
    url: `+srv.URL+`/fleet.git
    branch: main
    path: fleet
    interval: `+interval+`
webhooks:
  github: {secretFile: github.secret}
transport:
  type: local
  local: {root: state/fleet}
stateDir: state
`)
	return qs, remote, srv, secret
}

func TestGitSourceWithWebhookEndToEnd(t *testing.T) {
	qs, remote, _, secret := gitQuickstart(t)
	d := startDaemon(t, filepath.Join(qs, "gitfleet.yaml"))
	converged := func(version string) func() bool {
		return func() bool {
			for _, s := range production {
				if active(qs, s) != version || runningVersion(qs, s) != version {
					return false
				}
			}
			return d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3
		}
	}
	d.waitFor("production on v1.0.0 from the Git source", converged("v1.0.0"))

	rel := filepath.Join(remote.Work, "fleet", "releases", "production.yaml")
	b, _ := os.ReadFile(rel)
	remote.Write(map[string]string{"fleet/releases/production.yaml": strings.Replace(string(b), "version: v1.0.0", "version: v1.1.0", 1)})
	commit := remote.Commit("promote v1.1.0 to production")
	remote.Push()

	body := `{"ref":"refs/heads/main","after":"` + commit + `"}`
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	req, _ := http.NewRequest("POST", "http://"+d.addr+"/webhooks/github", strings.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: status %d, want 202", resp.StatusCode)
	}
	d.waitFor("production on v1.1.0 after the webhook", converged("v1.1.0"))
	if got := d.metric("gitfleet_source_revision_info", `commit="`+commit+`"`, `ref="main"`); got != 1 {
		t.Errorf("gitfleet_source_revision_info for %s = %v, want 1", commit, got)
	}
	if got := d.metric("gitfleet_webhook_requests_total", `provider="github"`, `result="triggered"`); got != 1 {
		t.Errorf("gitfleet_webhook_requests_total{github,triggered} = %v, want 1", got)
	}

	// A bad signature is refused and changes nothing.
	req, _ = http.NewRequest("POST", "http://"+d.addr+"/webhooks/github", strings.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("00", 32))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad signature: status %d, want 401", resp.StatusCode)
	}
	d.stop()
}

func TestPlanWithGitSource(t *testing.T) {
	qs, _, _, _ := gitQuickstart(t)
	code, out, errs := run("plan", "--config", filepath.Join(qs, "gitfleet.yaml"))
	if code != 2 || !strings.Contains(out, "production/hello v1.0.0: live rollout") {
		t.Fatalf("plan with a Git source: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(out, "(git http://127.0.0.1:") || !strings.Contains(out, "branch main path fleet)") {
		t.Errorf("plan does not name its Git origin:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(qs, "state")); err == nil {
		t.Error("plan wrote to the state directory")
	}
}

// TestGitRemoteUnreachable takes the remote away from a running daemon: the
// last good state stays in force, failures are counted by reason, and the
// source's last-success time stops moving so that an alert can fire.
func TestGitRemoteUnreachable(t *testing.T) {
	qs, _, srv, _ := gitQuickstartServer(t, "1s")
	d := startDaemon(t, filepath.Join(qs, "gitfleet.yaml"))
	d.waitFor("production on v1.0.0", func() bool {
		return d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3
	})
	srv.Close()
	d.waitFor("a failed poll counted as a network error", func() bool {
		return d.metric("gitfleet_source_fetch_errors_total", `reason="network"`) >= 1
	})
	last := d.metric("gitfleet_source_last_success_timestamp_seconds")
	d.waitFor("a second failed poll", func() bool {
		return d.metric("gitfleet_source_fetch_errors_total", `reason="network"`) >= 2
	})
	if got := d.metric("gitfleet_source_last_success_timestamp_seconds"); got != last || last <= 0 {
		t.Errorf("last success moved from %v to %v while the remote was down", last, got)
	}
	if d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) != 3 || active(qs, "prod-1") != "v1.0.0" {
		t.Error("the fleet changed while the remote was down")
	}
	if !strings.Contains(d.logs.String(), "source read failed; keeping the last good desired state") {
		t.Error("no log line says the last good state is kept")
	}
	d.stop()
}
