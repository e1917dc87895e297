package reconcile

import (
	"context"
	"fmt"
	"sort"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/lb"

	"github.com/gitfleet/gitfleet/spec"
)

// LBFunc returns the driver of an environment's load balancer.
type LBFunc func(env *spec.Environment) (lb.Driver, error)

// DefaultLBs builds the drivers from the environment's spec.
func DefaultLBs(env *spec.Environment) (lb.Driver, error) {
	return lb.New(env.LoadBalancer)
}

// LBObservation is what an environment's load balancer said, by the
// servers' names there.
type LBObservation struct {
	Servers map[string]fleet.LBServer
	Err     error
}

// ObserveLBs asks the load balancer of every environment that has one.
func ObserveLBs(ctx context.Context, lbs LBFunc, d *spec.Desired) map[string]*LBObservation {
	if lbs == nil {
		lbs = DefaultLBs
	}
	res := map[string]*LBObservation{}
	for _, env := range d.Environments {
		if env.LoadBalancer == nil {
			continue
		}
		o := &LBObservation{}
		lb, err := lbs(env)
		if err == nil {
			o.Servers, err = lb.Servers(ctx)
		}
		if err != nil {
			o.Err = fmt.Errorf("load balancer of %s: %w", env.Name, err)
		}
		res[env.Name] = o
	}
	return res
}

// lbOf returns a server's state in the load balancer; a server the load
// balancer does not list is reported as missing.
func lbOf(o *LBObservation, srv *spec.Server) (fleet.LBServer, bool) {
	s, ok := o.Servers[srv.LB()]
	return s, ok
}

func available(s fleet.LBServer) bool { return s.Admin == fleet.LBReady && s.Up }

// rolloutFailure returns the recorded failure that stopped a rollout of
// this release at this revision on one of the servers, if any.
func rolloutFailure(d *Desired, o *Observed, app *spec.App, rel fleet.Release, targets []*spec.Server) (string, *fleet.Attempt) {
	for _, srv := range targets {
		st := o.Servers[srv.Name]
		if st == nil || st.Err != nil {
			continue
		}
		if as := st.Apps[app.Name]; as != nil && as.Marker != nil {
			if f := as.Marker.Failed; f != nil && f.StopsRollout && f.Release == rel.ID && f.Revision == d.Revision {
				return srv.Name, f
			}
		}
	}
	return "", nil
}

// holdChange drops a change and records why on the release's standing.
func holdChange(st *AppStatus, why string) *Change {
	st.Note = why
	return nil
}

// planRolling turns the servers' changes into batches, adds servers to put
// back into the load balancer, and holds the release when its rollout
// failed at this revision or the load balancer cannot be read.
func planRolling(d *Desired, o *Observed, r *spec.Release, env *spec.Environment, app *spec.App, rel fleet.Release, targets []*spec.Server, st *AppStatus, ch *Change) *Change {
	if srv, f := rolloutFailure(d, o, app, rel, targets); f != nil {
		return holdChange(st, fmt.Sprintf("rolling rollout failed at this revision (on %s: %s); held until a new commit or `gitfleet sync --retry %s %s`", srv, f.Error, env.Name, app.Name))
	}
	lbo := o.LB[env.Name]
	if lbo == nil || lbo.Err != nil {
		if lbo == nil {
			return holdChange(st, "load balancer not observed")
		}
		return holdChange(st, lbo.Err.Error())
	}
	inChange := map[string]*ServerChange{}
	if ch != nil {
		for _, s := range ch.Servers {
			inChange[s.Server] = s
		}
	}
	// Servers on a whole release that the load balancer does not send
	// traffic to (a crash between drain and ready, or a hand) go back.
	status := map[string]*ServerStatus{}
	for _, ss := range st.Servers {
		status[ss.Server] = ss
	}
	var restore []*ServerChange
	unavailable := 0
	for _, srv := range targets {
		ls, ok := lbOf(lbo, srv)
		if !ok {
			return holdChange(st, fmt.Sprintf("server %s (%q) is not in load balancer backend of %s", srv.Name, srv.LB(), env.Name))
		}
		if available(ls) {
			continue
		}
		ss := status[srv.Name]
		if _, changing := inChange[srv.Name]; changing || ss.State == Unreachable {
			if ss.State == Unreachable {
				unavailable++
			}
			continue
		}
		if ls.Admin == fleet.LBReady {
			unavailable++ // down by the load balancer's checks: not ours to fix
			continue
		}
		ss.State, ss.Drift = Drifted, DriftLoadBalancer
		ss.Reason = joinReason(ss.Reason, fmt.Sprintf("left %s in the load balancer", ls.Admin))
		restore = append(restore, &ServerChange{Server: srv.Name, From: ss.Current, Restore: true, Reason: ss.Reason})
	}
	if ch == nil && len(restore) == 0 {
		return nil
	}
	if ch == nil {
		ch = &Change{Lane: LaneFiles, Environment: env.Name, App: app.Name, Strategy: r.Strategy, Version: rel.Version, To: rel.ID}
	}
	var activate []*ServerChange
	for _, s := range ch.Servers {
		if s.Activate || s.Heal {
			activate = append(activate, s)
		}
	}
	// A batch cut short by a crash comes first: its servers are already
	// out of the load balancer.
	sort.SliceStable(activate, func(i, j int) bool {
		a, _ := lbo.Servers[serverByName(targets, activate[i].Server).LB()]
		b, _ := lbo.Servers[serverByName(targets, activate[j].Server).LB()]
		return !available(a) && available(b)
	})
	size := r.Rolling.Batch.Of(len(targets))
	room := r.Rolling.MaxUnavailable.Of(len(targets)) - unavailable
	if room < size {
		size = room
	}
	if len(activate) > 0 && size < 1 {
		// No batch, but servers left out still go back.
		st.Note = fmt.Sprintf("%d of %d servers are unavailable and maxUnavailable is %s: no room for a batch", unavailable, len(targets), r.Rolling.MaxUnavailable)
		if len(restore) == 0 {
			return nil
		}
		ch.Servers, ch.Batches = restore, nil
		ch.Reason = summarize(ch, len(targets))
		return ch
	}
	ch.Servers = append(restore, activate...)
	ch.Batches = nil
	for i := 0; i < len(activate); i += size {
		end := min(i+size, len(activate))
		var b []string
		for _, s := range activate[i:end] {
			b = append(b, s.Server)
		}
		ch.Batches = append(ch.Batches, b)
	}
	ch.Reason = summarize(ch, len(targets))
	return ch
}

func serverByName(servers []*spec.Server, name string) *spec.Server {
	for _, s := range servers {
		if s.Name == name {
			return s
		}
	}
	return &spec.Server{Name: name}
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// groups splits the targets of a parallel release into blue and green.
func groups(targets []*spec.Server) map[string][]*spec.Server {
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

func otherGroup(g string) string {
	if g == spec.GroupBlue {
		return spec.GroupGreen
	}
	return spec.GroupBlue
}

// liveGroup is the group the load balancer sends traffic to: the one with
// more ready servers ("" when neither has one). A tie (a switch cut short
// after the new group was readied) goes to the group on the release.
func liveGroup(lbo *LBObservation, g map[string][]*spec.Server, onRelease func(string) bool) string {
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

// planParallel plans a blue/green release: the live group is observed in
// the load balancer; the idle group gets the release and then the
// traffic. Once the live group is on the release, the idle group (on the
// previous release, kept for a switch back) is in sync as long as it takes
// no traffic.
func planParallel(d *Desired, o *Observed, r *spec.Release, env *spec.Environment, app *spec.App, rel fleet.Release, targets []*spec.Server, st *AppStatus, ch *Change) *Change {
	lbo := o.LB[env.Name]
	if lbo == nil || lbo.Err != nil {
		if lbo == nil {
			return holdChange(st, "load balancer not observed")
		}
		return holdChange(st, lbo.Err.Error())
	}
	for _, srv := range targets {
		if _, ok := lbOf(lbo, srv); !ok {
			return holdChange(st, fmt.Sprintf("server %s (%q) is not in the load balancer backend of %s", srv.Name, srv.LB(), env.Name))
		}
	}
	status := map[string]*ServerStatus{}
	for _, ss := range st.Servers {
		status[ss.Server] = ss
	}
	inChange := map[string]*ServerChange{}
	if ch != nil {
		for _, s := range ch.Servers {
			inChange[s.Server] = s
		}
	}
	g := groups(targets)
	onRelease := func(name string) bool {
		for _, s := range g[name] {
			if ss := status[s.Name]; ss.State != InSync || inChange[s.Name] != nil {
				return false
			}
		}
		return true
	}
	live := liveGroup(lbo, g, onRelease)
	var idle string
	switch {
	case live != "" && onRelease(live):
		// Done: the idle group keeps the previous release, out of traffic.
		ch = &Change{Lane: LaneFiles, Environment: env.Name, App: app.Name, Strategy: r.Strategy, Version: rel.Version, To: rel.ID}
		for _, s := range g[live] {
			if ls, _ := lbOf(lbo, s); ls.Admin != fleet.LBReady {
				ss := status[s.Name]
				ss.State, ss.Drift, ss.Reason = Drifted, DriftLoadBalancer, fmt.Sprintf("live group %s, but %s in the load balancer", live, ls.Admin)
				ch.Servers = append(ch.Servers, &ServerChange{Server: s.Name, From: ss.Current, Restore: true, Reason: ss.Reason})
			}
		}
		for _, s := range g[otherGroup(live)] {
			ss := status[s.Name]
			if ss.State == Unreachable {
				continue
			}
			ss.State, ss.Held = InSync, false
			ss.Reason = fmt.Sprintf("idle group %s, keeps %s for a switch back", otherGroup(live), ss.Current)
			// Drained counts as out too: a command load balancer may have
			// no maintenance state of its own.
			if ls, _ := lbOf(lbo, s); ls.Admin == fleet.LBReady {
				ss.State, ss.Drift = Drifted, DriftLoadBalancer
				ss.Reason = fmt.Sprintf("idle group %s, but %s in the load balancer", otherGroup(live), ls.Admin)
				ch.Servers = append(ch.Servers, &ServerChange{Server: s.Name, From: ss.Current, TakeOut: true, Reason: ss.Reason})
			}
		}
		recount(st)
		if len(ch.Servers) == 0 {
			return nil
		}
		ch.Reason = summarize(ch, len(targets))
		return ch
	case live == "":
		idle = spec.GroupBlue
		if onRelease(spec.GroupGreen) && !onRelease(spec.GroupBlue) {
			idle = spec.GroupGreen
		}
	default:
		idle = otherGroup(live)
	}
	if srv, f := rolloutFailure(d, o, app, rel, targets); f != nil {
		return holdChange(st, fmt.Sprintf("parallel rollout failed or was rolled back at this revision (on %s: %s); held until a new commit or `gitfleet sync --retry %s %s`", srv, f.Error, env.Name, app.Name))
	}
	var steps []*ServerChange
	for _, s := range g[idle] {
		ss := status[s.Name]
		switch {
		case ss.State == Unreachable:
			return holdChange(st, fmt.Sprintf("server %s of the idle group %s is unreachable: the whole group must be healthy to switch", s.Name, idle))
		case ss.Held:
			return holdChange(st, fmt.Sprintf("server %s of the idle group %s is held: %s", s.Name, idle, ss.Reason))
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
	recount(st)
	ch = &Change{Lane: LaneFiles, Environment: env.Name, App: app.Name, Strategy: r.Strategy, Version: rel.Version, To: rel.ID, Servers: steps}
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
