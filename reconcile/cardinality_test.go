package reconcile

import (
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/plantest"
	"github.com/gitfleet/gitfleet/plan"
)

// TestMetricsCardinalityAt10000Servers: 10,000 servers with 5 apps each,
// 20% of server-apps out of sync and 3 drifted. The series stay per
// environment and app; only drifted servers have a series of their own.
func TestMetricsCardinalityAt10000Servers(t *testing.T) {
	d, o := plantest.BenchFleet(t, 10000)
	o.Content = map[string]map[string]*plan.ContentCheck{}
	for _, s := range []string{"srv-2", "srv-13", "srv-27"} {
		// srv-2 app-3 etc. are in sync in the bench fleet: (s*5+a)%10 >= 2.
		o.Content[s] = map[string]*plan.ContentCheck{"app-3": {Release: d.Releases[d.Spec.Releases[0].Key()].ID, Differ: []string{"index.html"}}}
	}
	c, reg := newController(t, t.TempDir())
	p := plan.MakePlan(d, o, time.Now())
	c.recordStatus(p)
	c.recordDrift(p)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, mf := range mfs {
		n := len(mf.GetMetric())
		total += n
		switch mf.GetName() {
		case "gitfleet_drift_info":
			if n != 3 {
				t.Errorf("gitfleet_drift_info has %d series, want 3 (one per drifted server)", n)
			}
		case "gitfleet_servers":
			if n != 10*5*len(plan.SyncStates) {
				t.Errorf("gitfleet_servers has %d series, want %d", n, 10*5*len(plan.SyncStates))
			}
		}
	}
	if total > 500 {
		t.Errorf("%d series for 10,000 servers: cardinality is not bounded by environments and apps", total)
	}
	t.Logf("%d series in all for 10,000 servers, 5 apps, 10 environments", total)
}
