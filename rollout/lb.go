package rollout

import (
	"errors"
	"fmt"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/plan"
)

// lbServers reads the load balancer; a failure is counted.
func (u *run) lbServers() (map[string]fleet.LBServer, error) {
	st, err := u.lb.Servers(u.ctx)
	if err != nil {
		u.ro.Metrics.LBError(u.ch.Environment, "read")
	}
	return st, err
}

// lbSet changes a server's state in the load balancer; a failure is
// counted.
func (u *run) lbSet(name string, state fleet.LBAdmin) error {
	err := u.lb.Set(u.ctx, u.server(name).LB(), state)
	if err != nil {
		u.ro.Metrics.LBError(u.ch.Environment, string(state))
		return fmt.Errorf("set %s %s in the load balancer: %w", name, state, err)
	}
	return nil
}

// lbWait polls the load balancer until ok says the server is there, or
// the timeout.
func (u *run) lbWait(name string, timeout time.Duration, what string, ok func(fleet.LBServer) bool) error {
	lbName := u.server(name).LB()
	deadline := u.ro.Now().Add(timeout)
	var last fleet.LBServer
	for {
		st, err := u.lbServers()
		if err == nil {
			last = st[lbName]
			if ok(last) {
				return nil
			}
		}
		if u.ro.Now().After(deadline) {
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
	log := u.log.With("server", name)
	if err := u.lbSet(name, fleet.LBDrain); err != nil {
		return err
	}
	if err := u.lbWait(name, drainTimeout, "no sessions", func(s fleet.LBServer) bool { return s.Sessions == 0 }); err != nil {
		if u.ctx.Err() != nil {
			return err
		}
		log.Warn("drain timeout: going on with sessions left", "err", err)
	}
	if err := u.lbSet(name, fleet.LBMaint); err != nil {
		return err
	}
	log.Info("out of the load balancer", "lb_server", u.server(name).LB())
	return nil
}

// putBack readies a server and waits until the load balancer's own checks
// find it up.
func (u *run) putBack(name string, timeout time.Duration) error {
	if err := u.lbSet(name, fleet.LBReady); err != nil {
		return err
	}
	if err := u.lbWait(name, timeout, "up", fleet.LBServer.Available); err != nil {
		return err
	}
	u.log.Info("back in the load balancer", "server", name, "lb_server", u.server(name).LB())
	return nil
}

// restore health-checks a server on a whole release and puts it back.
func (u *run) restore(name, current string, timeout time.Duration) error {
	if current == "" {
		return errors.New("no release to put back into the load balancer")
	}
	if err := u.ro.Servers.Check(u.ctx, u.request(name, fleet.ReleaseOf(current))); err != nil {
		return err
	}
	return u.putBack(name, timeout)
}

// mustPutBack puts back a server after a failed drain; a failure is
// logged, and recorded with the server's result, never dropped.
func (u *run) mustPutBack(name string, timeout time.Duration) {
	if err := u.putBack(name, timeout); err != nil {
		u.log.Error("cannot put the server back into the load balancer after a failed drain: it takes no traffic", "server", name, "err", err)
		u.addErr(name, fmt.Errorf("and it could not be put back into the load balancer: %w", err))
	}
}

// mustTakeOut takes a server out after an abandoned switch; a failure is
// logged and recorded with the server's result: both groups may then take
// traffic.
func (u *run) mustTakeOut(name string, step plan.Step, cause error) {
	err := u.takeOut(name, time.Millisecond)
	if err != nil {
		u.log.Error("cannot take the server out of the load balancer after an abandoned switch: it may take traffic on the new release", "server", name, "err", err)
		cause = fmt.Errorf("%w; and it could not be taken out of the load balancer: %w", cause, err)
	}
	u.set(name, step, cause, false)
}
