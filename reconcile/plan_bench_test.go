package reconcile

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/fleet"

	"github.com/gitfleet/gitfleet/spec"
)

// benchFleet builds a desired state of servers spread over 10 environments,
// 5 apps on every server, and an observed fleet where 80% of server-apps are
// in sync, 10% run an older version and 10% have nothing yet.
func benchFleet(b *testing.B, servers int) (*Desired, *Observed) {
	b.Helper()
	const envs, apps = 10, 5
	var y strings.Builder
	for e := 0; e < envs; e++ {
		fmt.Fprintf(&y, "---\nkind: Environment\nname: env-%d\nservers:\n", e)
		for s := e; s < servers; s += envs {
			fmt.Fprintf(&y, "  - {name: srv-%d, address: 10.0.%d.%d:22}\n", s, s/250, s%250)
		}
	}
	for a := 0; a < apps; a++ {
		fmt.Fprintf(&y, "---\nkind: App\nname: app-%d\nartifact: {path: artifacts/app-%d}\ndeployTo: /srv/app-%d\n", a, a, a)
		for e := 0; e < envs; e++ {
			fmt.Fprintf(&y, "---\nkind: Release\napp: app-%d\nenvironment: env-%d\nversion: v2\n", a, e)
		}
	}
	sd, err := spec.Load([]spec.File{{Path: "fleet.yaml", Data: []byte(y.String())}})
	if err != nil {
		b.Fatal(err)
	}
	d := &Desired{Revision: "bench", Spec: sd, Releases: map[spec.Key]fleet.Release{}}
	for _, r := range sd.Releases {
		d.Releases[r.Key()] = fleet.Release{ID: fleet.ReleaseID("v2", fmt.Sprintf("%064d", 2)), Version: "v2"}
	}
	newID := fleet.ReleaseID("v2", fmt.Sprintf("%064d", 2))
	oldID := fleet.ReleaseID("v1", fmt.Sprintf("%064d", 1))
	o := &Observed{Servers: make(map[string]*fleet.ServerState, servers)}
	for s := 0; s < servers; s++ {
		st := &fleet.ServerState{Server: fmt.Sprintf("srv-%d", s), Apps: map[string]*fleet.AppState{}}
		for a := 0; a < apps; a++ {
			var as fleet.AppState
			switch (s*apps + a) % 10 {
			case 0:
				as = fleet.AppState{Current: oldID, Staged: []string{oldID}}
			case 1:
			default:
				as = fleet.AppState{Current: newID, Staged: []string{oldID, newID}}
			}
			st.Apps[fmt.Sprintf("app-%d", a)] = &as
		}
		o.Servers[st.Server] = st
	}
	return d, o
}

// BenchmarkPlan plans fleets of 100, 1,000 and 10,000 servers with 5 apps
// each. Goal: 10,000 servers in under 100 ms and 200 MB allocated.
func BenchmarkPlan(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			d, o := benchFleet(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			var p *Plan
			for i := 0; i < b.N; i++ {
				p = MakePlan(d, o, planNow)
			}
			b.StopTimer()
			if got, want := p.Pending(), n*5/5; got != want {
				b.Fatalf("got %d pending server steps, want %d", got, want)
			}
		})
	}
}
