package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDriftAlertFiresInPrometheus: a real Prometheus scrapes the daemon
// with the rules of examples/prometheus (GitfleetDrift's 15 minutes made
// 3 seconds), a file of the active release is changed by hand on one
// server of an environment with onDrift: alert, and the alert fires in
// Prometheus' own /api/v1/alerts.
func TestDriftAlertFiresInPrometheus(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		skipOrFail(t, "prometheus is needed (Debian: apt-get install prometheus)")
	}
	qs := quickstart(t)
	envs := filepath.Join(qs, "desired", "environments.yaml")
	b, _ := os.ReadFile(envs)
	write(t, envs, strings.Replace(string(b), "name: production\n", "name: production\nonDrift: alert\n", 1))
	cfg := filepath.Join(qs, "gitfleet.yaml")
	b, _ = os.ReadFile(cfg)
	write(t, cfg, strings.Replace(string(b), "resync: 1m", "resync: 1s\ndrift: {contentInterval: 1s}", 1))
	d := startDaemon(t, cfg)
	d.bound = 60 * time.Second
	d.waitFor("production on v1.0.0", func() bool {
		return d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3
	})

	dir := t.TempDir()
	rules, err := os.ReadFile(filepath.Join("..", "..", "examples", "prometheus", "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	fast := strings.Replace(string(rules), "for: 15m", "for: 3s", 1)
	if fast == string(rules) {
		t.Fatal("GitfleetDrift has no 'for: 15m' to shorten")
	}
	write(t, filepath.Join(dir, "rules.yml"), fast)
	write(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: gitfleet
    static_configs: [{targets: ["%s"]}]
`, d.addr))
	promAddr := freeAddr(t)
	prom := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	var promLog syncBuffer
	prom.Stdout, prom.Stderr = &promLog, &promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		prom.Process.Kill()
		prom.Wait()
		if t.Failed() {
			t.Logf("prometheus:\n%s", promLog.String())
		}
	})

	// Someone edits a file of the running release on prod-2.
	link, err := os.Readlink(filepath.Join(qs, "state", "fleet", "prod-2", "srv", "hello", "current"))
	if err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(qs, "state", "fleet", "prod-2", "srv", "hello", link, "public", "index.html")
	os.Chmod(page, 0o644)
	if err := os.WriteFile(page, []byte("<h1>edited by hand</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the daemon to report the drift", func() bool {
		return d.metric("gitfleet_drift_info", `environment="production"`, `server="prod-2"`, `kind="content"`) == 1
	})
	d.waitFor("GitfleetDrift firing in Prometheus", func() bool {
		resp, err := http.Get("http://" + promAddr + "/api/v1/alerts")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&body) != nil {
			return false
		}
		for _, a := range body.Data.Alerts {
			if a.Labels["alertname"] == "GitfleetDrift" && a.State == "firing" && a.Labels["environment"] == "production" && a.Labels["app"] == "hello" {
				return true
			}
		}
		return false
	})
	// Reported only: the file stays as edited.
	if b, _ := os.ReadFile(page); string(b) != "<h1>edited by hand</h1>\n" {
		t.Error("onDrift alert healed the file")
	}
	d.stop()
}
