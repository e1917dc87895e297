// Package plantest builds desired states and observed fleets for the tests
// and benchmarks of planning and of the controller.
package plantest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/spec"
)

// BenchFleet builds a desired state of servers spread over 10 environments,
// 5 apps on every server, and an observed fleet where 80% of server-apps are
// in sync, 10% run an older version and 10% have nothing yet.
func BenchFleet(b testing.TB, servers int) (*plan.Desired, *plan.Observed) {
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
	d := &plan.Desired{Revision: "bench", Spec: sd, Releases: map[spec.Key]fleet.Release{}}
	for _, r := range sd.Releases {
		d.Releases[r.Key()] = fleet.Release{ID: fleet.ReleaseID("v2", fmt.Sprintf("%064d", 2)), Version: "v2"}
	}
	newID := fleet.ReleaseID("v2", fmt.Sprintf("%064d", 2))
	oldID := fleet.ReleaseID("v1", fmt.Sprintf("%064d", 1))
	o := &plan.Observed{Servers: make(map[string]*fleet.ServerState, servers)}
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
