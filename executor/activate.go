package executor

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
)

// Activate delivers a staged release: it records the attempt, switches
// current, runs the app's activate command and health check, and records
// the result. When activation fails the server is switched back to the
// release it had (and its activate command run again), so it stays on a whole
// release that worked; the failure is recorded so that the same release is
// not retried at the same revision.
func (x *Executor) Activate(ctx context.Context, r fleet.Request) error {
	fail := func(step string, err error) error {
		return fmt.Errorf("activate %s %s on %s: %s: %w", r.App.Name, r.Release.Version, r.Server.Name, step, err)
	}
	dt := r.App.DeployTo
	st, err := x.appState(ctx, r.Server, dt)
	if err != nil {
		return fail("inspect", err)
	}
	if !st.IsStaged(r.Release.ID) {
		return fail("check", fmt.Errorf("%s: %w", r.Release.ID, ErrNotStaged))
	}
	m := st.Marker
	if m == nil {
		m = &fleet.Marker{}
	}
	m.App, m.Environment = r.App.Name, r.Environment
	prev := st.Current
	if prev == r.Release.ID {
		// Re-running an activation that was interrupted: the release it
		// replaced is in the marker.
		prev = ""
		if m.Pending != nil && m.Pending.Release == r.Release.ID {
			prev = m.Pending.Previous
		} else if m.Release != r.Release.ID {
			prev = m.Release
		}
	}
	if prev != "" && !st.IsStaged(prev) {
		prev = "" // nothing whole to go back to
	}
	m.Pending = &fleet.Attempt{Release: r.Release.ID, Previous: prev, Revision: r.Revision, At: x.now()}
	if err := x.writeMarker(ctx, r.Server, dt, m); err != nil {
		return fail("write state", err)
	}
	if err := x.switchTo(ctx, r.Server, dt, r.Release.ID); err != nil {
		err = fail("switch current", err)
		x.recordFailure(ctx, r, m, err)
		return err
	}
	r.Log.Info("switched current", "release", r.Release.ID, "previous", prev)

	if se := x.bringUp(ctx, r, r.Release, prev); se != nil {
		err := fail(se.step, se.err)
		x.revert(ctx, r, prev)
		x.recordFailure(ctx, r, m, err)
		return err
	}

	m.Pending, m.Failed = nil, nil
	if prev != "" && prev != r.Release.ID {
		m.Previous = prev
	}
	m.Release, m.Commit, m.Revision, m.ActivatedAt = r.Release.ID, r.Release.Commit, r.Revision, x.now()
	if err := x.writeMarker(ctx, r.Server, dt, m); err != nil {
		return fail("write state", err)
	}
	keep := []string{r.Release.ID}
	if prev != "" {
		keep = append(keep, prev)
	}
	if err := x.prune(ctx, r.Server, dt, keep, r.App.KeepReleases); err != nil {
		r.Log.Warn("prune old releases", "err", err)
	}
	return nil
}

// RollBack returns a server on which r.Release was activated to the release
// to (still staged there): switch, activate command and health check, and
// the marker records r.Release as failed at this revision for the reason
// given, stopping the rollout (so it is held, not retried).
func (x *Executor) RollBack(ctx context.Context, r fleet.Request, to, reason string) error {
	fail := func(step string, err error) error {
		return fmt.Errorf("roll back %s on %s to %s: %s: %w", r.App.Name, r.Server.Name, to, step, err)
	}
	dt := r.App.DeployTo
	st, err := x.appState(ctx, r.Server, dt)
	if err != nil {
		return fail("inspect", err)
	}
	if !st.IsStaged(to) {
		return fail("check", fmt.Errorf("%s: %w", to, ErrNotStaged))
	}
	m := st.Marker
	if m == nil {
		m = &fleet.Marker{}
	}
	m.App, m.Environment = r.App.Name, r.Environment
	back := fleet.Release{ID: to, Version: fleet.VersionOf(to)}
	if st.Current != to {
		m.Pending = &fleet.Attempt{Release: to, Previous: st.Current, Revision: r.Revision, At: x.now()}
		if err := x.writeMarker(ctx, r.Server, dt, m); err != nil {
			return fail("write state", err)
		}
		if err := x.switchTo(ctx, r.Server, dt, to); err != nil {
			return fail("switch current", err)
		}
		r.Log.Warn("switched back", "release", to, "from", st.Current, "reason", reason)
	}
	rb := r
	rb.Release = back
	se := x.bringUp(ctx, rb, back, r.Release.ID)
	m.Pending = nil
	m.Release, m.Commit, m.Revision, m.ActivatedAt = to, "", r.Revision, x.now()
	m.Failed = &fleet.Attempt{Release: r.Release.ID, Revision: r.Revision, At: x.now(), Error: reason, StopsRollout: true}
	if err := x.writeMarker(context.WithoutCancel(ctx), r.Server, dt, m); err != nil {
		return fail("write state", err)
	}
	if se != nil {
		return fail(se.step, se.err)
	}
	return nil
}

// MarkRolloutFailed records on the server that r.Release stopped its
// rollout at this revision, keeping the error already recorded if any.
func (x *Executor) MarkRolloutFailed(ctx context.Context, r fleet.Request, reason string) error {
	dt := r.App.DeployTo
	st, err := x.appState(ctx, r.Server, dt)
	if err != nil {
		return err
	}
	m := &fleet.Marker{App: r.App.Name, Environment: r.Environment}
	if st.Marker != nil {
		m = st.Marker
	}
	if m.Failed == nil || m.Failed.Release != r.Release.ID || m.Failed.Revision != r.Revision {
		m.Failed = &fleet.Attempt{Release: r.Release.ID, Revision: r.Revision, At: x.now(), Error: reason}
	}
	m.Failed.StopsRollout = true
	return x.writeMarker(context.WithoutCancel(ctx), r.Server, dt, m)
}

type stepError struct {
	step string
	err  error
}

// bringUp runs the activate command and the health check for a release that
// current already points to.
func (x *Executor) bringUp(ctx context.Context, r fleet.Request, rel fleet.Release, prev string) *stepError {
	dir := path.Join(r.App.DeployTo, "releases", rel.ID)
	env := x.commandEnv(r, rel, prev)
	if cmd := r.App.Activate; cmd != "" {
		cctx, cancel := context.WithTimeout(ctx, r.App.ActivateTimeout)
		out, err := x.T.Run(cctx, r.Server, dir, env, cmd)
		cancel()
		logOutput(r.Log, "activate command", out, err)
		if err != nil {
			return &stepError{"activate command", withOutput(err, out)}
		}
	}
	if h := r.App.Health; h != nil {
		if err := x.health(ctx, r, dir, env, h); err != nil {
			return &stepError{"health check", err}
		}
	}
	return nil
}

// revert puts the server back on the release it had, or on none.
func (x *Executor) revert(ctx context.Context, r fleet.Request, prev string) {
	// Going back must not be cut short by the cancellation that may have
	// caused the failure.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.App.ActivateTimeout+30*time.Second)
	defer cancel()
	if err := x.switchTo(ctx, r.Server, r.App.DeployTo, prev); err != nil {
		r.Log.Error("switch back after failed activation", "previous", prev, "err", err)
		return
	}
	if prev == "" {
		r.Log.Warn("removed current after failed first activation")
		return
	}
	r.Log.Warn("switched back after failed activation", "release", prev)
	back := fleet.Release{ID: prev, Version: fleet.VersionOf(prev)}
	if r.App.Activate == "" {
		return
	}
	dir := path.Join(r.App.DeployTo, "releases", prev)
	// The activate command is bounded as it is on the way forward.
	cctx, ccancel := context.WithTimeout(ctx, r.App.ActivateTimeout)
	out, err := x.T.Run(cctx, r.Server, dir, x.commandEnv(r, back, r.Release.ID), r.App.Activate)
	ccancel()
	logOutput(r.Log, "activate command for previous release", out, err)
}

// recordFailure writes the failed attempt to the marker, so that it is not
// retried at the same revision. An activation cut short by cancellation
// (the daemon told to stop at once) is no verdict on the release: only the
// pending attempt is cleared, and the next pass tries again.
func (x *Executor) recordFailure(ctx context.Context, r fleet.Request, m *fleet.Marker, err error) {
	cancelled := ctx.Err() != nil
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	m.Pending = nil
	if !cancelled {
		m.Failed = &fleet.Attempt{Release: r.Release.ID, Revision: r.Revision, At: x.now(), Error: err.Error()}
	}
	if werr := x.writeMarker(ctx, r.Server, r.App.DeployTo, m); werr != nil {
		r.Log.Error("record failed activation", "err", werr)
	}
}
