package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestNotifications: the daemon posts rollout and drift events to a
// generic webhook and a Slack-compatible one (a local server records
// them).
func TestNotifications(t *testing.T) {
	var mu sync.Mutex
	var hook []map[string]any
	var slack []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		json.Unmarshal(b, &body)
		mu.Lock()
		defer mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/slack") {
			slack = append(slack, body["text"].(string))
		} else {
			hook = append(hook, body)
		}
	}))
	defer srv.Close()
	qs := quickstart(t)
	write(t, filepath.Join(qs, "slack-url"), srv.URL+"/slack/T0/B0/secret\n")
	cfg := filepath.Join(qs, "gitfleet.yaml")
	b, _ := os.ReadFile(cfg)
	write(t, cfg, strings.Replace(string(b), "resync: 1m", `resync: 1s
drift: {contentInterval: 1s}
notifications:
  webhooks: [{url: "`+srv.URL+`/hook"}]
  slack: [{urlFile: slack-url, events: [rollout-failed, drift-detected]}]`, 1))
	envs := filepath.Join(qs, "desired", "environments.yaml")
	b, _ = os.ReadFile(envs)
	write(t, envs, strings.Replace(string(b), "name: production\n", "name: production\nonDrift: alert\n", 1))
	d := startDaemon(t, cfg)
	kinds := func(env string) []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, e := range hook {
			if e["environment"] == env {
				out = append(out, e["kind"].(string))
			}
		}
		return out
	}
	d.waitFor("production's rollout started and succeeded", func() bool {
		return strings.Join(kinds("production"), ",") == "rollout-started,rollout-succeeded"
	})
	link, _ := os.Readlink(filepath.Join(qs, "state", "fleet", "prod-3", "srv", "hello", "current"))
	page := filepath.Join(qs, "state", "fleet", "prod-3", "srv", "hello", link, "public", "index.html")
	os.Chmod(page, 0o644)
	os.WriteFile(page, []byte("edited\n"), 0o644)
	d.waitFor("drift-detected on the webhook and in Slack", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(slack) == 1 && strings.Contains(slack[0], "production/hello drifted from the desired state (content) on prod-3")
	})
	if k := kinds("production"); strings.Join(k, ",") != "rollout-started,rollout-succeeded,drift-detected" {
		t.Errorf("webhook events of production: %v", k)
	}
	d.stop()
	if strings.Contains(d.logs.String(), "secret") {
		t.Error("the Slack URL's secret part shows in the logs")
	}
}
