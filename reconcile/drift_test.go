package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func driftSeries(reg *prometheus.Registry, kind string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "gitfleet_drift_servers" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "kind" && lp.GetValue() == kind {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

func countSeries(reg *prometheus.Registry, name string) int {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

// TestDrift changes a file of the active release by hand and switches
// current by hand on another server: with onDrift alert both are reported
// (state drifted, metrics with one info series per drifted server) and
// left alone; with heal, the file is put back and current switched back.
func TestDrift(t *testing.T) {
	dir, fleet := t.TempDir(), t.TempDir()
	repo(t, dir, "v1")
	c, reg := newController(t, fleet, withContentInterval(1)) // every pass
	ctx := context.Background()
	c.Update(snapshot(t, dir))
	c.Pass(ctx, ctx, c.Desired())
	repo(t, dir, "v2")
	c.Update(snapshot(t, dir))
	c.Pass(ctx, ctx, c.Desired())
	if running(t, fleet, "a") != "v2" {
		t.Fatal("v2 not deployed")
	}
	rel := c.Desired().Releases[c.Desired().Spec.Releases[0].Key()]
	// a: a file of the release edited; b: current switched back to v1.
	versionFile := filepath.Join(fleet, "a", "srv", "web", "releases", rel.ID, "VERSION")
	os.Chmod(versionFile, 0o644)
	os.WriteFile(versionFile, []byte("hacked\n"), 0o644)
	releases, _ := os.ReadDir(filepath.Join(fleet, "b", "srv", "web", "releases"))
	var v1 string
	for _, e := range releases {
		if strings.HasPrefix(e.Name(), "v1-") {
			v1 = e.Name()
		}
	}
	cur := filepath.Join(fleet, "b", "srv", "web", "current")
	os.Remove(cur)
	os.Symlink("releases/"+v1, cur)

	// alert: reported, not touched.
	os.WriteFile(filepath.Join(dir, "env.yaml"), []byte("kind: Environment\nname: prod\nonDrift: alert\nservers: [{name: a}, {name: b}, {name: c}]\n"), 0o644)
	c.Update(snapshot(t, dir))
	pr := c.Pass(ctx, ctx, c.Desired())
	if len(pr.Plan.Changes) != 0 {
		t.Fatalf("onDrift alert: %d changes, want none", len(pr.Plan.Changes))
	}
	kinds := map[string]string{}
	for _, s := range pr.Plan.Status[0].Servers {
		kinds[s.Server] = string(s.State) + "/" + s.Drift
	}
	if kinds["a"] != "drifted/content" || kinds["b"] != "drifted/version" || kinds["c"] != "in_sync/" {
		t.Fatalf("standing: %v", kinds)
	}
	if b, _ := os.ReadFile(versionFile); string(b) != "hacked\n" {
		t.Error("onDrift alert touched the drifted file")
	}
	if driftSeries(reg, "content") != 1 || driftSeries(reg, "version") != 1 || countSeries(reg, "gitfleet_drift_info") != 2 {
		t.Errorf("drift metrics: content %v, version %v, %d info series; want 1, 1, 2",
			driftSeries(reg, "content"), driftSeries(reg, "version"), countSeries(reg, "gitfleet_drift_info"))
	}
	if got := testutil.ToFloat64(metricServers(reg, "drifted")); got != 2 {
		t.Errorf("gitfleet_servers{state=drifted} = %v, want 2", got)
	}

	// heal: put back.
	os.WriteFile(filepath.Join(dir, "env.yaml"), []byte("kind: Environment\nname: prod\nservers: [{name: a}, {name: b}, {name: c}]\n"), 0o644)
	c.Update(snapshot(t, dir))
	c.Pass(ctx, ctx, c.Desired())
	if b, _ := os.ReadFile(versionFile); string(b) != "v2\n" {
		t.Errorf("healed VERSION: %q", b)
	}
	if target, _ := os.Readlink(cur); target != "releases/"+rel.ID || running(t, fleet, "b") != "v2" {
		t.Errorf("b: current -> %s, running %s; want v2 back", target, running(t, fleet, "b"))
	}
	pr = c.Pass(ctx, ctx, c.Desired())
	if len(pr.Plan.Changes) != 0 || countSeries(reg, "gitfleet_drift_info") != 0 {
		t.Errorf("after healing: %d changes, %d drift info series; want none", len(pr.Plan.Changes), countSeries(reg, "gitfleet_drift_info"))
	}
}
