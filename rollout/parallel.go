package rollout

import (
	"context"
	"fmt"
	"sync"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/plan"
)

// parallel delivers the release to the idle group, checks it, and switches
// the load balancer to it in one step; the old group keeps the previous
// release, out of traffic, for a switch back.
func (ro *Rollout) parallel(ctx, stop context.Context, ch *plan.Change, res *Result) {
	u, err := ro.newRun(ctx, stop, ch, res)
	if err != nil {
		u.failAll(err)
		return
	}
	opts := ch.Spec.Release.Parallel
	// Restores and take-outs of a release already switched.
	forEach(stop, len(ch.Servers), len(ch.Servers), func(i int) {
		s := ch.Servers[i]
		switch {
		case s.Restore:
			err := u.restore(s.Server, s.From, opts.DrainTimeout)
			u.set(s.Server, plan.StepReady, err, err == nil)
		case s.TakeOut:
			err := u.takeOut(s.Server, opts.DrainTimeout)
			u.set(s.Server, plan.StepDrain, err, err == nil)
		}
	})
	sw := ch.Switch
	if sw == nil {
		return
	}
	if !u.prepareIdle(sw, opts.Parallelism) {
		return
	}
	if stop.Err() != nil {
		res.Stopped = true
		return
	}
	u.switchTo(sw)
}

// prepareIdle takes the idle group out of traffic, stages and activates
// the release there; it reports whether the whole group is ready for the
// switch. When it is not, the release is held on the servers that failed.
func (u *run) prepareIdle(sw *plan.Switch, parallelism int) bool {
	opts := u.ch.Spec.Release.Parallel
	st, err := u.lbServers()
	if err != nil {
		u.failAll(fmt.Errorf("read the load balancer: %w", err))
		return false
	}
	forEach(u.stop, len(sw.Servers), len(sw.Servers), func(i int) {
		n := sw.Servers[i]
		if st[u.server(n).LB()].Admin != fleet.LBMaint {
			if err := u.takeOut(n, opts.DrainTimeout); err != nil {
				u.set(n, plan.StepDrain, err, false)
			}
		}
	})
	u.stage()
	var toActivate []string
	for _, s := range u.ch.Servers {
		if s.Activate && !u.failed(s.Server) {
			toActivate = append(toActivate, s.Server)
		}
	}
	if len(toActivate) > 0 && u.stop.Err() == nil {
		u.log.Info("activating release on the idle group", "group", sw.To, "release", u.ch.To, "servers", len(toActivate))
	}
	// Activated servers are not done before the switch.
	for n := range u.activate(toActivate, parallelism) {
		r := u.result(n)
		u.set(n, r.Step, errorOf(r.Err), false)
	}
	var failed []string
	for _, n := range sw.Servers {
		if u.failed(n) {
			failed = append(failed, n)
		}
	}
	if len(failed) == 0 {
		return true
	}
	reason := fmt.Sprintf("parallel rollout to %s stopped before the switch: the idle group failed", sw.To)
	u.log.Error("parallel rollout stopped: the live group keeps the traffic", "live", sw.From, "idle", sw.To)
	for _, n := range failed {
		if err := u.ro.Servers.MarkRolloutFailed(u.ctx, u.request(n, u.ch.Spec.Artifact), reason); err != nil {
			u.log.Error("record the failed rollout", "server", n, "err", err)
		}
	}
	return false
}

// switchTo puts the new group in, once the load balancer sees it up; then
// the old group out. When the new group does not come up, the switch is
// abandoned: the new group goes out again and the old keeps the traffic.
func (u *run) switchTo(sw *plan.Switch) {
	opts := u.ch.Spec.Release.Parallel
	u.log.Info("switching the load balancer", "from", sw.From, "to", sw.To, "release", u.ch.To)
	var upErr error
	var mu sync.Mutex
	forEach(context.WithoutCancel(u.stop), len(sw.Servers), len(sw.Servers), func(i int) {
		if err := u.putBack(sw.Servers[i], opts.DrainTimeout); err != nil {
			mu.Lock()
			upErr = fmt.Errorf("%s: %w", sw.Servers[i], err)
			mu.Unlock()
		}
	})
	if upErr != nil {
		u.log.Error("the new group did not come up in the load balancer; switch abandoned", "err", upErr)
		for _, n := range sw.Servers {
			u.mustTakeOut(n, plan.StepSwitch, upErr)
		}
		return
	}
	forEach(context.WithoutCancel(u.stop), len(sw.Old), len(sw.Old), func(i int) {
		n := sw.Old[i]
		if err := u.takeOut(n, opts.DrainTimeout); err != nil {
			u.log.Error("cannot take the old group out", "server", n, "err", err)
		}
	})
	for _, n := range sw.Servers {
		u.set(n, plan.StepSwitch, nil, true)
	}
	u.log.Info("switched", "live", sw.To, "idle", sw.From, "release", u.ch.To)
}

// errorOf turns a result's error back into an error, nil for none.
func errorOf(s string) error {
	if s == "" {
		return nil
	}
	return fmt.Errorf("%s", s)
}
