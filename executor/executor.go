package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/tree"
)

// Transport reaches one kind of server and knows the layout's primitive
// operations. Paths are the server's own (deployTo as the spec says it).
type Transport interface {
	// Inspect reads the state of every deployTo on the server at once.
	// An error means the server could not be reached or read at all.
	Inspect(ctx context.Context, srv *spec.Server, deployTos []string) (map[string]*fleet.AppState, error)
	// Stage places the tree at <deployTo>/releases/<id>, written under a
	// temporary name and renamed when complete. Staging a release that is
	// already there does nothing.
	Stage(ctx context.Context, srv *spec.Server, deployTo, id string, t *tree.Tree) error
	// Switch points <deployTo>/current at releases/<id> atomically, or
	// removes it when id is "".
	Switch(ctx context.Context, srv *spec.Server, deployTo, id string) error
	// WriteMarker replaces <deployTo>/.gitfleet/state.json atomically.
	WriteMarker(ctx context.Context, srv *spec.Server, deployTo string, m *fleet.Marker) error
	// Run runs a shell command on the server in dir, with extra environment
	// variables, and returns its combined output.
	Run(ctx context.Context, srv *spec.Server, dir string, env []string, command string) ([]byte, error)
	// Prune removes releases not in keep, oldest first, until at most max
	// remain, and stale temporary entries.
	Prune(ctx context.Context, srv *spec.Server, deployTo string, keep []string, max int) error
	// Path is how a command run on the server sees a server path.
	Path(srv *spec.Server, p string) string
}

// Executor observes, stages and activates over a Transport.
type Executor struct {
	T Transport
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ConfigRoots are the directories of the servers that managed files
	// of the environment lane may be written in (environmentFiles.roots):
	// a file's write stays inside the deepest of them that holds it
	// (docs/security.md). nil: no managed file is written.
	ConfigRoots []string
}

func (x *Executor) now() time.Time {
	if x.Now != nil {
		return x.Now()
	}
	return time.Now()
}

// Observe inspects the deployTo of every app on one server.
func (x *Executor) Observe(ctx context.Context, srv *spec.Server, apps []*spec.App) fleet.ServerState {
	st := fleet.ServerState{Server: srv.Name}
	dirs := make([]string, len(apps))
	for i, a := range apps {
		dirs[i] = a.DeployTo
	}
	byDir, err := x.T.Inspect(ctx, srv, dirs)
	if err != nil {
		st.Err = err
		return st
	}
	st.Apps = make(map[string]*fleet.AppState, len(apps))
	for _, a := range apps {
		if s := byDir[a.DeployTo]; s != nil {
			st.Apps[a.Name] = s
		} else {
			st.Apps[a.Name] = &fleet.AppState{}
		}
	}
	return st
}

// Stage distributes the release to the server.
func (x *Executor) Stage(ctx context.Context, r fleet.Request) error {
	if err := x.T.Stage(ctx, r.Server, r.App.DeployTo, r.Release.ID, r.Release.Tree); err != nil {
		return fmt.Errorf("stage %s %s on %s: %w", r.App.Name, r.Release.Version, r.Server.Name, err)
	}
	return nil
}

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
	states, err := x.T.Inspect(ctx, r.Server, []string{dt})
	if err != nil {
		return fail("inspect", err)
	}
	st := states[dt]
	if st == nil {
		st = &fleet.AppState{}
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
	if err := x.T.WriteMarker(ctx, r.Server, dt, m); err != nil {
		return fail("write state", err)
	}
	if err := x.T.Switch(ctx, r.Server, dt, r.Release.ID); err != nil {
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
	if err := x.T.WriteMarker(ctx, r.Server, dt, m); err != nil {
		return fail("write state", err)
	}
	keep := []string{r.Release.ID}
	if prev != "" {
		keep = append(keep, prev)
	}
	if err := x.T.Prune(ctx, r.Server, dt, keep, r.App.KeepReleases); err != nil {
		r.Log.Warn("prune old releases", "err", err)
	}
	return nil
}

// RunCommand runs a shell command in / on the server, bounded by ctx.
func (x *Executor) RunCommand(ctx context.Context, srv *spec.Server, env []string, command string) ([]byte, error) {
	return x.T.Run(ctx, srv, "/", env, command)
}

// Check runs the app's health check against the release current points
// to (r.Release), as a server is put back into its load balancer.
func (x *Executor) Check(ctx context.Context, r fleet.Request) error {
	h := r.App.Health
	if h == nil {
		return nil
	}
	dir := path.Join(r.App.DeployTo, "releases", r.Release.ID)
	if err := x.health(ctx, r, dir, x.commandEnv(r, r.Release, ""), h); err != nil {
		return fmt.Errorf("health check of %s %s on %s: %w", r.App.Name, r.Release.Version, r.Server.Name, err)
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
	states, err := x.T.Inspect(ctx, r.Server, []string{dt})
	if err != nil {
		return fail("inspect", err)
	}
	st := states[dt]
	if st == nil || !st.IsStaged(to) {
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
		if err := x.T.WriteMarker(ctx, r.Server, dt, m); err != nil {
			return fail("write state", err)
		}
		if err := x.T.Switch(ctx, r.Server, dt, to); err != nil {
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
	if err := x.T.WriteMarker(context.WithoutCancel(ctx), r.Server, dt, m); err != nil {
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
	states, err := x.T.Inspect(ctx, r.Server, []string{dt})
	if err != nil {
		return err
	}
	m := &fleet.Marker{App: r.App.Name, Environment: r.Environment}
	if st := states[dt]; st != nil && st.Marker != nil {
		m = st.Marker
	}
	if m.Failed == nil || m.Failed.Release != r.Release.ID || m.Failed.Revision != r.Revision {
		m.Failed = &fleet.Attempt{Release: r.Release.ID, Revision: r.Revision, At: x.now(), Error: reason}
	}
	m.Failed.StopsRollout = true
	return x.T.WriteMarker(context.WithoutCancel(ctx), r.Server, dt, m)
}

// ClearFailed forgets a recorded failure of the app on the server, so that
// the release is tried again (gitfleet sync --retry). It reports whether
// there was one.
func (x *Executor) ClearFailed(ctx context.Context, srv *spec.Server, app *spec.App) (bool, error) {
	states, err := x.T.Inspect(ctx, srv, []string{app.DeployTo})
	if err != nil {
		return false, err
	}
	st := states[app.DeployTo]
	if st == nil || st.Marker == nil || st.Marker.Failed == nil {
		return false, nil
	}
	st.Marker.Failed = nil
	return true, x.T.WriteMarker(ctx, srv, app.DeployTo, st.Marker)
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

func (x *Executor) health(ctx context.Context, r fleet.Request, dir string, env []string, h *spec.Health) error {
	var last error
	for attempt := 1; attempt <= h.Attempts; attempt++ {
		if attempt > 1 {
			t := time.NewTimer(h.Interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (last attempt: %v)", ctx.Err(), last)
			case <-t.C:
			}
		}
		cctx, cancel := context.WithTimeout(ctx, h.Timeout)
		out, err := x.probe(cctx, r, dir, env, h)
		cancel()
		if err == nil {
			r.Log.Info("health check passed", "attempt", attempt)
			return nil
		}
		last = withOutput(err, out)
		r.Log.Warn("health check failed", "attempt", attempt, "of", h.Attempts, "err", last)
	}
	return fmt.Errorf("unhealthy after %d attempts: %w", h.Attempts, last)
}

// probe runs one health check: the command on the server, or an HTTP GET
// or TCP connection from the daemon.
func (x *Executor) probe(ctx context.Context, r fleet.Request, dir string, env []string, h *spec.Health) ([]byte, error) {
	host := r.Server.Host
	if host == "" {
		host = r.Server.Name
	}
	switch {
	case h.HTTP != "":
		u := strings.ReplaceAll(h.HTTP, spec.HostPlaceholder, host)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return body, fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		return nil, nil
	case h.TCP != "":
		addr := strings.ReplaceAll(h.TCP, spec.HostPlaceholder, host)
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return nil, c.Close()
	}
	return x.T.Run(ctx, r.Server, dir, env, h.Command)
}

// revert puts the server back on the release it had, or on none.
func (x *Executor) revert(ctx context.Context, r fleet.Request, prev string) {
	// Going back must not be cut short by the cancellation that may have
	// caused the failure.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.App.ActivateTimeout+30*time.Second)
	defer cancel()
	if err := x.T.Switch(ctx, r.Server, r.App.DeployTo, prev); err != nil {
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
	if werr := x.T.WriteMarker(ctx, r.Server, r.App.DeployTo, m); werr != nil {
		r.Log.Error("record failed activation", "err", werr)
	}
}

// commandEnv is what activate and health commands find in their
// environment.
func (x *Executor) commandEnv(r fleet.Request, rel fleet.Release, prev string) []string {
	return []string{
		"GITFLEET_ENVIRONMENT=" + r.Environment,
		"GITFLEET_APP=" + r.App.Name,
		"GITFLEET_SERVER=" + r.Server.Name,
		"GITFLEET_VERSION=" + rel.Version,
		"GITFLEET_RELEASE=" + rel.ID,
		"GITFLEET_RELEASE_DIR=" + x.T.Path(r.Server, path.Join(r.App.DeployTo, "releases", rel.ID)),
		"GITFLEET_DEPLOY_TO=" + x.T.Path(r.Server, r.App.DeployTo),
		"GITFLEET_PREVIOUS_RELEASE=" + prev,
		"GITFLEET_REVISION=" + r.Revision,
	}
}

// maxOutput bounds how much command output is kept for logs and errors.
const maxOutput = 4096

// tail keeps the end of a command's output, where errors usually are.
func tail(out []byte) string {
	if len(out) > maxOutput {
		out = append([]byte("…"), out[len(out)-maxOutput:]...)
	}
	return string(out)
}

func logOutput(log *slog.Logger, what string, out []byte, err error) {
	if err != nil {
		log.Warn(what+" failed", "err", err, "output", tail(out))
		return
	}
	log.Info(what+" succeeded", "output", tail(out))
}

func withOutput(err error, out []byte) error {
	if len(out) == 0 {
		return err
	}
	const short = 512
	s := strings.TrimSpace(tail(out))
	if len(s) > short {
		s = "…" + s[len(s)-short:]
	}
	return fmt.Errorf("%w: %s", err, s)
}

// ErrNotStaged is returned when a release to activate is missing.
var ErrNotStaged = errors.New("release is not staged")
