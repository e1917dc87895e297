package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// StepTimeout bounds each operation on a server that has no bound of
	// its own (inspect, switch, write a marker or a file, prune; default
	// DefaultStepTimeout). Commands are bounded by theirs (activateTimeout,
	// the health check's timeout, the caller's context).
	StepTimeout time.Duration
}

// DefaultStepTimeout is Executor.StepTimeout's default.
const DefaultStepTimeout = 2 * time.Minute

// bound is ctx bounded by StepTimeout.
func (x *Executor) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	t := x.StepTimeout
	if t <= 0 {
		t = DefaultStepTimeout
	}
	return context.WithTimeout(ctx, t)
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
	byDir, err := x.inspect(ctx, srv, dirs)
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

// RunCommand runs a shell command in / on the server, bounded by ctx.
func (x *Executor) RunCommand(ctx context.Context, srv *spec.Server, env []string, command string) ([]byte, error) {
	return x.T.Run(ctx, srv, "/", env, command)
}

// ClearFailed forgets a recorded failure of the app on the server, so that
// the release is tried again (gitfleet sync --retry). It reports whether
// there was one.
func (x *Executor) ClearFailed(ctx context.Context, srv *spec.Server, app *spec.App) (bool, error) {
	st, err := x.appState(ctx, srv, app.DeployTo)
	if err != nil {
		return false, err
	}
	if st.Marker == nil || st.Marker.Failed == nil {
		return false, nil
	}
	st.Marker.Failed = nil
	return true, x.writeMarker(ctx, srv, app.DeployTo, st.Marker)
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

// inspect, writeMarker, switchTo and prune call the transport, each bounded
// by StepTimeout.
func (x *Executor) inspect(ctx context.Context, srv *spec.Server, deployTos []string) (map[string]*fleet.AppState, error) {
	ctx, cancel := x.bound(ctx)
	defer cancel()
	return x.T.Inspect(ctx, srv, deployTos)
}

func (x *Executor) writeMarker(ctx context.Context, srv *spec.Server, deployTo string, m *fleet.Marker) error {
	ctx, cancel := x.bound(ctx)
	defer cancel()
	return x.T.WriteMarker(ctx, srv, deployTo, m)
}

func (x *Executor) switchTo(ctx context.Context, srv *spec.Server, deployTo, id string) error {
	ctx, cancel := x.bound(ctx)
	defer cancel()
	return x.T.Switch(ctx, srv, deployTo, id)
}

func (x *Executor) prune(ctx context.Context, srv *spec.Server, deployTo string, keep []string, max int) error {
	ctx, cancel := x.bound(ctx)
	defer cancel()
	return x.T.Prune(ctx, srv, deployTo, keep, max)
}

func (x *Executor) removeFiles(ctx context.Context, ct ConfigTransport, srv *spec.Server, root string, paths []string) error {
	ctx, cancel := x.bound(ctx)
	defer cancel()
	return ct.RemoveFiles(ctx, srv, root, paths)
}

// appState inspects one deployTo before it is changed. A marker written
// by a newer gitfleet, in a format this one does not know, is an error:
// writing it over would lose what that gitfleet recorded.
func (x *Executor) appState(ctx context.Context, srv *spec.Server, deployTo string) (*fleet.AppState, error) {
	states, err := x.inspect(ctx, srv, []string{deployTo})
	if err != nil {
		return nil, err
	}
	st := states[deployTo]
	if st == nil {
		st = &fleet.AppState{}
	}
	if st.MarkerNewer {
		return nil, fmt.Errorf("%s: %s", deployTo, st.MarkerErr)
	}
	return st, nil
}
