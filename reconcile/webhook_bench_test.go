package reconcile

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/executor"
	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/transport/local"
)

// BenchmarkWebhookToFirstAction measures the time from a push webhook to
// the first server step of the rollout it causes: the webhook is checked,
// the Git source polls the smart-HTTP remote and fetches the new commit,
// the desired state is loaded and resolved, the fleet observed, the plan
// made and the first activation started. Goal: under 1 s.
func BenchmarkWebhookToFirstAction(b *testing.B) {
	root := b.TempDir()
	remote := gittest.NewRemote(b, root, "fleet")
	files := map[string]string{
		"env.yaml":                 "kind: Environment\nname: prod\nservers: [{name: a}, {name: b}, {name: c}]\n",
		"app.yaml":                 "kind: App\nname: web\nartifact: {path: artifacts/web}\ndeployTo: /srv/web\nactivate: cp VERSION ../../running\n",
		"release.yaml":             "kind: Release\napp: web\nenvironment: prod\nversion: v1\n",
		"artifacts/web/v1/VERSION": "v1\n",
		"artifacts/web/v2/VERSION": "v2\n",
	}
	remote.Write(files)
	remote.Commit("start")
	remote.Push()
	gitSrv := gittest.Serve(b, root, "", "")

	fleet := b.TempDir()
	first := make(chan struct{}, 1)
	rec := &hooked{
		Executor: &executor.Executor{T: &local.Local{Root: fleet}},
		hook: func(string) error {
			select {
			case first <- struct{}{}:
			default:
			}
			return nil
		},
	}
	g := &source.Git{URL: gitSrv.URL + "/fleet.git", Ref: source.GitRef{Branch: "main"}, Dir: filepath.Join(b.TempDir(), "src"), Interval: time.Hour, Timeout: time.Minute}
	c, _ := newController(b, fleet, withServers(rec), withLog(slog.New(slog.DiscardHandler)))
	const secret = "bench-secret"
	wh := httptest.NewServer((&source.Webhooks{Secrets: map[string][]byte{source.Generic: []byte(secret)}, Target: g}).Handler())
	defer wh.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Watch(ctx, c.Update)
	go c.Run(ctx, ctx)

	converged := func(version string) {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			ok := true
			for _, s := range []string{"a", "b", "c"} {
				if running(nil, fleet, s) != version {
					ok = false
				}
			}
			if ok {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		b.Fatalf("fleet did not reach %s", version)
	}
	converged("v1")
	body := `{"ref":"refs/heads/main"}`
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))

	version := "v1"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		next := map[string]string{"v1": "v2", "v2": "v1"}[version]
		remote.Write(map[string]string{"release.yaml": strings.Replace(files["release.yaml"], "v1", next, 1)})
		remote.Commit("to " + next)
		remote.Push()
		select {
		case <-first:
		default:
		}
		b.StartTimer()

		req, _ := http.NewRequest("POST", wh.URL+"/webhooks/generic", strings.NewReader(body))
		req.Header.Set("X-Gitfleet-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			b.Fatalf("webhook: %v %v", err, resp)
		}
		resp.Body.Close()
		<-first

		b.StopTimer()
		converged(next)
		version = next
		b.StartTimer()
	}
}
