package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/lb"

	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
)

// More server steps, of the strategies with a load balancer.
const (
	StepDrain    Step = "drain"
	StepReady    Step = "ready"
	StepRollback Step = "rollback"
	StepSwitch   Step = "switch"
)

// lbPoll is how often the load balancer is asked while waiting for a
// server to drain or to come up.
const lbPoll = 100 * time.Millisecond

// run is one change being carried out with a load balancer.
type run struct {
	ro       *Rollout
	ctx      context.Context // cancels steps in flight
	stop     context.Context // no new step once done
	d        *Desired
	ch       *Change
	res      *Result
	env      *spec.Environment
	app      *spec.App
	rel      fleet.Release
	release  *spec.Release
	log      *slog.Logger
	lb       lb.Driver
	servers  map[string]*spec.Server
	mu       sync.Mutex
	byServer map[string]int // index into res.Servers
}

func (ro *Rollout) newRun(ctx, stop context.Context, d *Desired, ch *Change, res *Result) (*run, error) {
	u := &run{ro: ro, ctx: ctx, stop: stop, d: d, ch: ch, res: res,
		env: d.Spec.Environment(ch.Environment), app: d.Spec.App(ch.App), rel: d.Releases[ch.Key()],
		servers: map[string]*spec.Server{}, byServer: map[string]int{}}
	for _, r := range d.Spec.Releases {
		if r.Key() == ch.Key() {
			u.release = r
		}
	}
	u.log = ro.Log.With("environment", ch.Environment, "app", ch.App, "revision", source.ShortRevision(d.Revision))
	for i := range u.env.Servers {
		u.servers[u.env.Servers[i].Name] = &u.env.Servers[i]
	}
	for _, s := range ch.Servers {
		u.entry(s.Server)
	}
	if u.env.LoadBalancer == nil {
		return u, nil
	}
	lbs := ro.LBs
	if lbs == nil {
		lbs = DefaultLBs
	}
	var err error
	u.lb, err = lbs(u.env)
	return u, err
}

// stageOnly distributes the release of a change that waits for its
// window; servers left out of a load balancer are put back all the same,
// since that restores a whole, healthy release.
func (ro *Rollout) stageOnly(ctx, stop context.Context, d *Desired, ch *Change, res *Result) {
	u, err := ro.newRun(ctx, stop, d, ch, res)
	if err != nil {
		u.failAll(err)
		return
	}
	for _, s := range ch.Servers {
		if s.Stage {
			u.log.Info("outside the window: staging only", "release", u.rel.ID, "why", ch.Wait.Why, "next", ch.Wait.Next)
			break
		}
	}
	u.stage()
	if u.lb == nil {
		return
	}
	timeout := u.release.Rolling.DrainTimeout
	if u.release.Strategy == spec.Parallel {
		timeout = u.release.Parallel.DrainTimeout
	}
	for _, s := range ch.Servers {
		if s.Restore {
			err := u.restore(s.Server, s.From, timeout)
			u.set(s.Server, StepReady, err, err == nil)
		}
	}
}

// entry returns the result of a server, adding it when new. Callers hold
// u.mu or run before any goroutine starts.
func (u *run) entry(name string) *ServerResult {
	i, ok := u.byServer[name]
	if !ok {
		i = len(u.res.Servers)
		u.byServer[name] = i
		u.res.Servers = append(u.res.Servers, ServerResult{Server: name})
	}
	return &u.res.Servers[i]
}

func (u *run) set(name string, step Step, err error, done bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.entry(name)
	r.Step, r.Done = step, done
	if step == StepStage && err == nil {
		r.Staged = true
	}
	if err != nil {
		r.Err = err.Error()
	} else {
		r.Err = ""
	}
}

func (u *run) failed(name string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.entry(name).Err != ""
}

func (u *run) request(name string, rel fleet.Release) fleet.Request {
	return fleet.Request{Environment: u.ch.Environment, App: u.app, Server: u.servers[name], Release: rel,
		Revision: u.d.Revision, Log: u.log.With("server", name)}
}

// releaseOf names a release a server already has (its From).
func releaseOf(id string) fleet.Release {
	return fleet.Release{ID: id, Version: fleet.VersionOf(id)}
}

// stage distributes the release to the servers of the change that lack
// it, with bounded parallelism.
func (u *run) stage() {
	var names []string
	for _, s := range u.ch.Servers {
		if s.Stage {
			names = append(names, s.Server)
		}
	}
	if len(names) == 0 {
		return
	}
	u.log.Info("distributing release", "release", u.rel.ID, "servers", len(names))
	forEach(u.stop, len(names), u.ro.StageParallelism, func(i int) {
		r := u.request(names[i], u.rel)
		t0 := time.Now()
		err := u.ro.Exec.Stage(u.ctx, r)
		if err != nil {
			r.Log.Error("stage failed", "release", u.rel.ID, "err", err)
		} else {
			r.Log.Info("staged", "release", u.rel.ID, "duration", time.Since(t0).Round(time.Millisecond).String())
		}
		u.set(names[i], StepStage, err, false)
	})
}

// lbWait polls the load balancer until ok says the server is there, or
// the timeout.
func (u *run) lbWait(name string, timeout time.Duration, what string, ok func(fleet.LBServer) bool) error {
	lbName := u.servers[name].LB()
	deadline := time.Now().Add(timeout)
	var last fleet.LBServer
	for {
		st, err := u.lb.Servers(u.ctx)
		if err == nil {
			last = st[lbName]
			if ok(last) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			return fmt.Errorf("%s not reached in the load balancer after %s (admin %s, up %v, sessions %d)", what, timeout, last.Admin, last.Up, last.Sessions)
		}
		t := time.NewTimer(lbPoll)
		select {
		case <-u.ctx.Done():
			t.Stop()
			return u.ctx.Err()
		case <-t.C:
		}
	}
}

// takeOut drains a server, waits for its sessions to end (or the
// timeout: then it goes on, and says so) and puts it in maintenance.
func (u *run) takeOut(name string, drainTimeout time.Duration) error {
	lbName := u.servers[name].LB()
	log := u.log.With("server", name)
	if err := u.lb.Set(u.ctx, lbName, fleet.LBDrain); err != nil {
		return err
	}
	if err := u.lbWait(name, drainTimeout, "no sessions", func(s fleet.LBServer) bool { return s.Sessions == 0 }); err != nil {
		if u.ctx.Err() != nil {
			return err
		}
		log.Warn("drain timeout: going on with sessions left", "err", err)
	}
	if err := u.lb.Set(u.ctx, lbName, fleet.LBMaint); err != nil {
		return err
	}
	log.Info("out of the load balancer", "lb_server", lbName)
	return nil
}

// putBack readies a server and waits until the load balancer's own checks
// find it up.
func (u *run) putBack(name string, timeout time.Duration) error {
	lbName := u.servers[name].LB()
	if err := u.lb.Set(u.ctx, lbName, fleet.LBReady); err != nil {
		return err
	}
	if err := u.lbWait(name, timeout, "up", func(s fleet.LBServer) bool { return s.Admin == fleet.LBReady && s.Up }); err != nil {
		return err
	}
	u.log.Info("back in the load balancer", "server", name, "lb_server", lbName)
	return nil
}

// restore health-checks a server on a whole release and puts it back.
func (u *run) restore(name, current string, timeout time.Duration) error {
	if current == "" {
		return errors.New("no release to put back into the load balancer")
	}
	if err := u.ro.Exec.Check(u.ctx, u.request(name, releaseOf(current))); err != nil {
		return err
	}
	return u.putBack(name, timeout)
}

func (u *run) failAll(err error) {
	for _, s := range u.ch.Servers {
		u.set(s.Server, StepDrain, err, false)
	}
}

// rolling takes the servers out of the load balancer batch by batch,
// activates the release, health-checks it and puts them back. Failures
// beyond the budget stop the rollout: the failed batch returns to the
// previous release and into the load balancer, and the release is held at
// this revision.
func (ro *Rollout) rolling(ctx, stop context.Context, d *Desired, ch *Change, res *Result) {
	u, err := ro.newRun(ctx, stop, d, ch, res)
	if err != nil {
		u.failAll(err)
		return
	}
	opts := u.release.Rolling
	from := map[string]string{}
	heal := map[string][]string{}
	for _, s := range ch.Servers {
		from[s.Server] = s.From
		if s.Heal {
			heal[s.Server] = s.Files
		}
	}
	u.stage()

	// Servers left out of the load balancer on a whole release.
	var restore []*ServerChange
	for _, s := range ch.Servers {
		if s.Restore {
			restore = append(restore, s)
		}
	}
	forEach(stop, len(restore), len(restore), func(i int) {
		s := restore[i]
		err := u.restore(s.Server, s.From, opts.DrainTimeout)
		if err != nil {
			u.log.Error("cannot put back into the load balancer", "server", s.Server, "err", err)
		}
		u.set(s.Server, StepReady, err, err == nil)
	})

	failures := 0
	for bi, batch := range ch.Batches {
		if stop.Err() != nil {
			res.Stopped = true
			return
		}
		if bi > 0 && opts.Pause > 0 {
			t := time.NewTimer(opts.Pause)
			select {
			case <-stop.Done():
				t.Stop()
				res.Stopped = true
				return
			case <-t.C:
			}
		}
		var names []string
		for _, n := range batch {
			if !u.failed(n) {
				names = append(names, n)
			}
		}
		u.log.Info("rolling batch", "batch", bi+1, "of", len(ch.Batches), "servers", names, "release", u.rel.ID)
		activated := make([]bool, len(names))
		var mu sync.Mutex
		batchFailures := 0
		forEach(context.WithoutCancel(stop), len(names), len(names), func(i int) {
			n := names[i]
			r := u.request(n, u.rel)
			fail := func(step Step, err error) {
				r.Log.Error("rolling step failed", "step", step, "release", u.rel.ID, "err", err)
				u.set(n, step, err, false)
				mu.Lock()
				batchFailures++
				mu.Unlock()
			}
			if err := u.takeOut(n, opts.DrainTimeout); err != nil {
				fail(StepDrain, err)
				u.putBack(n, opts.DrainTimeout) // never leave it out for a failed drain
				return
			}
			var err error
			if heal[n] != nil {
				err = ro.Exec.Heal(ctx, r, heal[n])
			} else {
				err = ro.Exec.Activate(ctx, r) // on failure, back to the previous release
			}
			if err != nil {
				fail(StepActivate, err)
				return
			}
			r.Log.Info("activated", "release", u.rel.ID, "from", from[n])
			activated[i] = true
			if err := u.putBack(n, opts.DrainTimeout); err != nil {
				fail(StepReady, err)
				return
			}
			u.set(n, StepReady, nil, true)
		})
		failures += batchFailures
		if failures > opts.MaxFailures {
			u.log.Error("rolling rollout stopped: failure budget exceeded; returning the batch to the previous release",
				"failures", failures, "maxFailures", opts.MaxFailures, "batch", bi+1)
			reason := fmt.Sprintf("rolling rollout stopped at batch %d: %d failed, maxFailures %d", bi+1, failures, opts.MaxFailures)
			forEach(context.WithoutCancel(stop), len(names), len(names), func(i int) {
				n := names[i]
				r := u.request(n, u.rel)
				if activated[i] && from[n] != "" {
					if err := u.takeOut(n, opts.DrainTimeout); err != nil {
						r.Log.Error("take out for rollback", "err", err)
					}
					if err := ro.Exec.RollBack(ctx, r, from[n], reason); err != nil {
						r.Log.Error("rollback failed", "to", from[n], "err", err)
						u.set(n, StepRollback, err, false)
						return
					}
					u.set(n, StepRollback, errors.New(reason), false)
				} else if err := ro.Exec.MarkRolloutFailed(ctx, r, reason); err != nil {
					r.Log.Error("record the failed rollout", "err", err)
				}
				if err := u.restore(n, from[n], opts.DrainTimeout); err != nil {
					r.Log.Error("cannot put back into the load balancer", "err", err)
				}
			})
			return
		}
		// Failed servers within the budget are on their previous release:
		// they go back in too.
		forEach(context.WithoutCancel(stop), len(names), len(names), func(i int) {
			n := names[i]
			if activated[i] || !u.failed(n) {
				return
			}
			if err := u.restore(n, from[n], opts.DrainTimeout); err != nil {
				u.log.Error("cannot put back into the load balancer", "server", n, "err", err)
			}
		})
	}
}

// parallel delivers the release to the idle group, checks it, and switches
// the load balancer to it in one step; the old group keeps the previous
// release, out of traffic, for a switch back.
func (ro *Rollout) parallel(ctx, stop context.Context, d *Desired, ch *Change, res *Result) {
	u, err := ro.newRun(ctx, stop, d, ch, res)
	if err != nil {
		u.failAll(err)
		return
	}
	opts := u.release.Parallel
	// Restores and take-outs of a release already switched.
	forEach(stop, len(ch.Servers), len(ch.Servers), func(i int) {
		s := ch.Servers[i]
		switch {
		case s.Restore:
			err := u.restore(s.Server, s.From, opts.DrainTimeout)
			u.set(s.Server, StepReady, err, err == nil)
		case s.TakeOut:
			err := u.takeOut(s.Server, opts.DrainTimeout)
			u.set(s.Server, StepDrain, err, err == nil)
		}
	})
	sw := ch.Switch
	if sw == nil {
		return
	}
	// The idle group takes no traffic while it changes.
	st, err := u.lb.Servers(ctx)
	if err != nil {
		u.failAll(err)
		return
	}
	forEach(stop, len(sw.Servers), len(sw.Servers), func(i int) {
		n := sw.Servers[i]
		if st[u.servers[n].LB()].Admin != fleet.LBMaint {
			if err := u.takeOut(n, opts.DrainTimeout); err != nil {
				u.set(n, StepDrain, err, false)
			}
		}
	})
	u.stage()
	var toActivate []string
	for _, s := range ch.Servers {
		if s.Activate && !u.failed(s.Server) {
			toActivate = append(toActivate, s.Server)
		}
	}
	if len(toActivate) > 0 && stop.Err() == nil {
		u.log.Info("activating release on the idle group", "group", sw.To, "release", u.rel.ID, "servers", len(toActivate))
	}
	forEach(stop, len(toActivate), opts.Parallelism, func(i int) {
		n := toActivate[i]
		r := u.request(n, u.rel)
		err := ro.Exec.Activate(ctx, r)
		if err != nil {
			r.Log.Error("activation failed", "release", u.rel.ID, "err", err)
		}
		u.set(n, StepActivate, err, false)
	})
	failed := false
	for _, n := range sw.Servers {
		if u.failed(n) {
			failed = true
		}
	}
	if failed {
		reason := fmt.Sprintf("parallel rollout to %s stopped before the switch: the idle group failed", sw.To)
		u.log.Error("parallel rollout stopped: the live group keeps the traffic", "live", sw.From, "idle", sw.To)
		for _, n := range sw.Servers {
			if u.failed(n) {
				if err := ro.Exec.MarkRolloutFailed(ctx, u.request(n, u.rel), reason); err != nil {
					u.log.Error("record the failed rollout", "server", n, "err", err)
				}
			}
		}
		return
	}
	if stop.Err() != nil {
		res.Stopped = true
		return
	}

	// The switch: the new group in, once the load balancer sees it up; then
	// the old group out.
	u.log.Info("switching the load balancer", "from", sw.From, "to", sw.To, "release", u.rel.ID)
	var upErr error
	var mu sync.Mutex
	forEach(context.WithoutCancel(stop), len(sw.Servers), len(sw.Servers), func(i int) {
		if err := u.putBack(sw.Servers[i], opts.DrainTimeout); err != nil {
			mu.Lock()
			upErr = fmt.Errorf("%s: %w", sw.Servers[i], err)
			mu.Unlock()
		}
	})
	if upErr != nil {
		u.log.Error("the new group did not come up in the load balancer; switch abandoned", "err", upErr)
		for _, n := range sw.Servers {
			u.takeOut(n, time.Millisecond)
			u.set(n, StepSwitch, upErr, false)
		}
		return
	}
	forEach(context.WithoutCancel(stop), len(sw.Old), len(sw.Old), func(i int) {
		n := sw.Old[i]
		if err := u.takeOut(n, opts.DrainTimeout); err != nil {
			u.log.Error("cannot take the old group out", "server", n, "err", err)
		}
	})
	for _, n := range sw.Servers {
		u.set(n, StepSwitch, nil, true)
	}
	u.log.Info("switched", "live", sw.To, "idle", sw.From, "release", u.rel.ID)
}
