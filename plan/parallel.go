package plan

import (
	"fmt"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
)

// Groups splits the targets of a parallel release into blue and green.
func Groups(targets []*spec.Server) map[string][]*spec.Server {
	g := map[string][]*spec.Server{}
	for _, s := range targets {
		if s.InGroups([]string{spec.GroupBlue}) {
			g[spec.GroupBlue] = append(g[spec.GroupBlue], s)
		} else {
			g[spec.GroupGreen] = append(g[spec.GroupGreen], s)
		}
	}
	return g
}

// OtherGroup is the group that is not g.
func OtherGroup(g string) string {
	if g == spec.GroupBlue {
		return spec.GroupGreen
	}
	return spec.GroupBlue
}

// LiveGroup is the group the load balancer sends traffic to: the one with
// more ready servers ("" when neither has one). A tie (a switch cut short
// after the new group was readied) goes to the group on the release.
func LiveGroup(lbo *LBObservation, g map[string][]*spec.Server, onRelease func(string) bool) string {
	ready := map[string]int{}
	for name, servers := range g {
		for _, s := range servers {
			if ls, ok := lbOf(lbo, s); ok && ls.Admin == fleet.LBReady {
				ready[name]++
			}
		}
	}
	b, gr := ready[spec.GroupBlue], ready[spec.GroupGreen]
	switch {
	case b == 0 && gr == 0:
		return ""
	case b > gr:
		return spec.GroupBlue
	case gr > b:
		return spec.GroupGreen
	case onRelease(spec.GroupGreen) && !onRelease(spec.GroupBlue):
		return spec.GroupGreen
	}
	return spec.GroupBlue
}

// parallel plans a blue/green release: the live group is observed in
// the load balancer; the idle group gets the release and then the
// traffic. Once the live group is on the release, the idle group (on the
// previous release, kept for a switch back) is in sync as long as it takes
// no traffic.
func (x *releasePlan) parallel(ch *Change) *Change {
	if why := x.observeLB("the load balancer backend"); why != "" {
		return x.hold(why)
	}
	status := x.status()
	inChange := map[string]*ServerChange{}
	if ch != nil {
		for _, s := range ch.Servers {
			inChange[s.Server] = s
		}
	}
	g := Groups(x.targets)
	onRelease := func(name string) bool {
		for _, s := range g[name] {
			if ss := status[s.Name]; ss.State != InSync || inChange[s.Name] != nil {
				return false
			}
		}
		return true
	}
	live := LiveGroup(x.lbo, g, onRelease)
	idle := OtherGroup(live)
	switch {
	case live != "" && onRelease(live):
		return x.switched(g, live, status)
	case live == "":
		idle = spec.GroupBlue
		if onRelease(spec.GroupGreen) && !onRelease(spec.GroupBlue) {
			idle = spec.GroupGreen
		}
	}
	if srv, f := rolloutFailure(x.d, x.o, x.app, x.rel, x.targets); f != nil {
		return x.hold(fmt.Sprintf("parallel rollout failed or was rolled back at this revision (on %s: %s); held until a new commit or `gitfleet sync --retry %s %s`", srv, f.Error, x.env.Name, x.app.Name))
	}
	var steps []*ServerChange
	for _, s := range g[idle] {
		ss := status[s.Name]
		switch {
		case ss.State == Unreachable:
			return x.hold(fmt.Sprintf("server %s of the idle group %s is unreachable: the whole group must be healthy to switch", s.Name, idle))
		case ss.Held:
			return x.hold(fmt.Sprintf("server %s of the idle group %s is held: %s", s.Name, idle, ss.Reason))
		}
		if sc := inChange[s.Name]; sc != nil {
			steps = append(steps, sc)
		}
	}
	for _, s := range g[live] {
		if ss := status[s.Name]; ss.State != Unreachable {
			ss.State, ss.Held = OutOfSync, false
			ss.Reason = fmt.Sprintf("live group %s on %s until the switch to %s", live, fleet.VersionOf(ss.Current), idle)
		}
	}
	recount(x.st)
	ch = x.change(steps)
	sw := &Switch{From: live, To: idle}
	for _, s := range g[idle] {
		sw.Servers = append(sw.Servers, s.Name)
	}
	for _, s := range g[live] {
		sw.Old = append(sw.Old, s.Name)
	}
	ch.Switch = sw
	ch.Reason = fmt.Sprintf("deliver to the idle group %s (%d of %d servers need it), then switch %s", idle, len(steps), len(g[idle]), switchText(sw))
	return ch
}

// switched is the standing of a release whose live group is on it: the
// idle group keeps the previous release, out of traffic; a server of
// either group in the wrong state of the load balancer is put right.
func (x *releasePlan) switched(g map[string][]*spec.Server, live string, status map[string]*ServerStatus) *Change {
	var steps []*ServerChange
	for _, s := range g[live] {
		if ls, _ := lbOf(x.lbo, s); ls.Admin != fleet.LBReady {
			ss := status[s.Name]
			ss.State, ss.Drift, ss.Reason = Drifted, DriftLoadBalancer, fmt.Sprintf("live group %s, but %s in the load balancer", live, ls.Admin)
			steps = append(steps, &ServerChange{Server: s.Name, From: ss.Current, Restore: true, Reason: ss.Reason})
		}
	}
	idle := OtherGroup(live)
	for _, s := range g[idle] {
		ss := status[s.Name]
		if ss.State == Unreachable {
			continue
		}
		ss.State, ss.Held = InSync, false
		ss.Reason = fmt.Sprintf("idle group %s, keeps %s for a switch back", idle, ss.Current)
		// Drained counts as out too: a command load balancer may have
		// no maintenance state of its own.
		if ls, _ := lbOf(x.lbo, s); ls.Admin == fleet.LBReady {
			ss.State, ss.Drift = Drifted, DriftLoadBalancer
			ss.Reason = fmt.Sprintf("idle group %s, but %s in the load balancer", idle, ls.Admin)
			steps = append(steps, &ServerChange{Server: s.Name, From: ss.Current, TakeOut: true, Reason: ss.Reason})
		}
	}
	recount(x.st)
	if len(steps) == 0 {
		return nil
	}
	return x.change(steps)
}

func switchText(sw *Switch) string {
	if sw.From == "" {
		return "the load balancer to " + sw.To
	}
	return sw.From + " → " + sw.To
}

// recount redoes the counts after the standing of servers changed.
func recount(st *AppStatus) {
	for k := range st.Counts {
		st.Counts[k] = 0
	}
	for _, ss := range st.Servers {
		st.Counts[ss.State]++
	}
}
