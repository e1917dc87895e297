package plan

import (
	"fmt"
	"sort"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
)

// lbOf returns a server's state in the load balancer; a server the load
// balancer does not list is reported as missing.
func lbOf(o *LBObservation, srv *spec.Server) (fleet.LBServer, bool) {
	s, ok := o.Servers[srv.LB()]
	return s, ok
}

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
		if ls.Available() {
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
		return !a.Available() && b.Available()
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
