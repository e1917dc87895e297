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

// rolling turns the servers' changes into batches, adds servers to put
// back into the load balancer, and holds the release when its rollout
// failed at this revision or the load balancer cannot be read.
func (x *releasePlan) rolling(ch *Change) *Change {
	if srv, f := rolloutFailure(x.d, x.o, x.app, x.rel, x.targets); f != nil {
		return x.hold(fmt.Sprintf("rolling rollout failed at this revision (on %s: %s); held until a new commit or `gitfleet sync --retry %s %s`", srv, f.Error, x.env.Name, x.app.Name))
	}
	if why := x.observeLB("load balancer backend"); why != "" {
		return x.hold(why)
	}
	restore, unavailable := x.leftOut(ch)
	if ch == nil && len(restore) == 0 {
		return nil
	}
	if ch == nil {
		ch = x.change(nil)
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
		a := x.lbo.Servers[serverByName(x.targets, activate[i].Server).LB()]
		b := x.lbo.Servers[serverByName(x.targets, activate[j].Server).LB()]
		return !a.Available() && b.Available()
	})
	n := len(x.targets)
	size := min(x.r.Rolling.Batch.Of(n), x.r.Rolling.MaxUnavailable.Of(n)-unavailable)
	if len(activate) > 0 && size < 1 {
		// No batch, but servers left out still go back.
		x.st.Note = fmt.Sprintf("%d of %d servers are unavailable and maxUnavailable is %s: no room for a batch", unavailable, n, x.r.Rolling.MaxUnavailable)
		if len(restore) == 0 {
			return nil
		}
		ch.Servers, ch.Batches = restore, nil
		ch.Reason = summarize(ch, n)
		return ch
	}
	ch.Servers = append(restore, activate...)
	ch.Batches = nil
	for i := 0; i < len(activate); i += size {
		var b []string
		for _, s := range activate[i:min(i+size, len(activate))] {
			b = append(b, s.Server)
		}
		ch.Batches = append(ch.Batches, b)
	}
	ch.Reason = summarize(ch, n)
	return ch
}

// leftOut finds the servers on a whole release that the load balancer
// sends no traffic to (a crash between drain and ready, or a hand): they
// go back. It counts the servers unavailable for other reasons.
func (x *releasePlan) leftOut(ch *Change) (restore []*ServerChange, unavailable int) {
	inChange := map[string]bool{}
	if ch != nil {
		for _, s := range ch.Servers {
			inChange[s.Server] = true
		}
	}
	status := x.status()
	for _, srv := range x.targets {
		ls, _ := lbOf(x.lbo, srv)
		if ls.Available() {
			continue
		}
		ss := status[srv.Name]
		if inChange[srv.Name] || ss.State == Unreachable {
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
	return restore, unavailable
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
