package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/plan"
)

// rolling takes the servers out of the load balancer batch by batch,
// activates the release, health-checks it and puts them back. Failures
// beyond the budget stop the rollout: the failed batch returns to the
// previous release and into the load balancer, and the release is held at
// this revision.
func (ro *Rollout) rolling(ctx, stop context.Context, ch *plan.Change, res *Result) {
	u, err := ro.newRun(ctx, stop, ch, res)
	if err != nil {
		u.failAll(err)
		return
	}
	opts := ch.Spec.Release.Rolling
	u.stage()
	u.restoreLeftOut(opts.DrainTimeout)
	failures := 0
	for bi, batch := range ch.Batches {
		if !u.pause(bi, opts.Pause) {
			res.Stopped = true
			return
		}
		var names []string
		for _, n := range batch {
			if !u.failed(n) {
				names = append(names, n)
			}
		}
		u.log.Info("rolling batch", "batch", bi+1, "of", len(ch.Batches), "servers", names, "release", ch.To)
		activated, batchFailures := u.rollBatch(names, opts.DrainTimeout)
		failures += batchFailures
		if failures > opts.MaxFailures {
			u.log.Error("rolling rollout stopped: failure budget exceeded; returning the batch to the previous release",
				"failures", failures, "maxFailures", opts.MaxFailures, "batch", bi+1)
			reason := fmt.Sprintf("rolling rollout stopped at batch %d: %d failed, maxFailures %d", bi+1, failures, opts.MaxFailures)
			u.returnBatch(names, activated, reason, opts.DrainTimeout)
			return
		}
		// Failed servers within the budget are on their previous release:
		// they go back in too.
		forEach(context.WithoutCancel(stop), len(names), len(names), func(i int) {
			n := names[i]
			if activated[i] || !u.failed(n) {
				return
			}
			if err := u.restore(n, u.from(n), opts.DrainTimeout); err != nil {
				u.log.Error("cannot put back into the load balancer", "server", n, "err", err)
			}
		})
	}
}

// from is the release a server of the change was on.
func (u *run) from(name string) string {
	for _, s := range u.ch.Servers {
		if s.Server == name {
			return s.From
		}
	}
	return ""
}

// pause waits between batches; it reports false when stop came first.
func (u *run) pause(batch int, d time.Duration) bool {
	if u.stop.Err() != nil {
		return false
	}
	if batch == 0 || d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-u.stop.Done():
		return false
	case <-t.C:
		return true
	}
}

// restoreLeftOut puts back the servers of the change left out of the load
// balancer on a whole release.
func (u *run) restoreLeftOut(timeout time.Duration) {
	var restore []*plan.ServerChange
	for _, s := range u.ch.Servers {
		if s.Restore {
			restore = append(restore, s)
		}
	}
	forEach(u.stop, len(restore), len(restore), func(i int) {
		s := restore[i]
		err := u.restore(s.Server, s.From, timeout)
		if err != nil {
			u.log.Error("cannot put back into the load balancer", "server", s.Server, "err", err)
		}
		u.set(s.Server, plan.StepReady, err, err == nil)
	})
}

// rollBatch takes each server of a batch out, activates it and puts it
// back, all at once; it says which were activated and how many failed.
func (u *run) rollBatch(names []string, drainTimeout time.Duration) ([]bool, int) {
	rel := u.ch.Spec.Artifact
	heal := map[string][]string{}
	for _, s := range u.ch.Servers {
		if s.Heal {
			heal[s.Server] = s.Files
		}
	}
	activated := make([]bool, len(names))
	var mu sync.Mutex
	failures := 0
	forEach(context.WithoutCancel(u.stop), len(names), len(names), func(i int) {
		n := names[i]
		r := u.request(n, rel)
		fail := func(step plan.Step, err error) {
			r.Log.Error("rolling step failed", "step", step, "release", rel.ID, "err", err)
			u.set(n, step, err, false)
			mu.Lock()
			failures++
			mu.Unlock()
		}
		if err := u.takeOut(n, drainTimeout); err != nil {
			fail(plan.StepDrain, err)
			u.mustPutBack(n, drainTimeout) // never leave it out for a failed drain
			return
		}
		var err error
		if heal[n] != nil {
			err = u.ro.Servers.Heal(u.ctx, r, heal[n])
		} else {
			err = u.ro.Servers.Activate(u.ctx, r) // on failure, back to the previous release
		}
		if err != nil {
			fail(plan.StepActivate, err)
			return
		}
		r.Log.Info("activated", "release", rel.ID, "from", u.from(n))
		activated[i] = true
		if err := u.putBack(n, drainTimeout); err != nil {
			fail(plan.StepReady, err)
			return
		}
		u.set(n, plan.StepReady, nil, true)
	})
	return activated, failures
}

// returnBatch returns a batch past the failure budget to the previous
// release, holds the release on its servers, and puts them back into the
// load balancer.
func (u *run) returnBatch(names []string, activated []bool, reason string, drainTimeout time.Duration) {
	forEach(context.WithoutCancel(u.stop), len(names), len(names), func(i int) {
		n := names[i]
		r := u.request(n, u.ch.Spec.Artifact)
		from := u.from(n)
		if activated[i] && from != "" {
			if err := u.takeOut(n, drainTimeout); err != nil {
				r.Log.Error("take out for rollback", "err", err)
			}
			if err := u.ro.Servers.RollBack(u.ctx, r, from, reason); err != nil {
				r.Log.Error("rollback failed", "to", from, "err", err)
				u.set(n, plan.StepRollback, err, false)
				return
			}
			u.set(n, plan.StepRollback, errors.New(reason), false)
		} else if err := u.ro.Servers.MarkRolloutFailed(u.ctx, r, reason); err != nil {
			r.Log.Error("record the failed rollout", "err", err)
		}
		if err := u.restore(n, from, drainTimeout); err != nil {
			r.Log.Error("cannot put back into the load balancer", "err", err)
			u.addErr(n, fmt.Errorf("not back in the load balancer: %w", err))
		}
	})
}
