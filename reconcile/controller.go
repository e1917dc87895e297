package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/internal/retry"
	"github.com/gitfleet/gitfleet/metrics"
	"github.com/gitfleet/gitfleet/notify"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/resolve"
	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/store"
)

// Config tunes the controller.
type Config struct {
	// Resync is the interval between passes when nothing else triggers
	// one; each wait is jittered by up to ±10%.
	Resync             time.Duration
	ObserveParallelism int
	ObserveTimeout     time.Duration
	StageParallelism   int
	// StageTimeout bounds staging a release on one server
	// (distribution.timeout).
	StageTimeout time.Duration
	// ContentInterval is how often the files of active releases are
	// checked against the releases (0: DefaultContentInterval; negative:
	// never).
	ContentInterval time.Duration
	// Spec are the limits and checks of gitfleet.yaml a desired state is
	// loaded with, environmentFiles.roots included.
	Spec spec.Options
	// ManagedFile, when set, keeps the servers of the desired state in
	// force, to tell which servers a new desired state unmanages across
	// restarts and for `gitfleet plan`.
	ManagedFile string
	// StallCap is how long a desired state that cannot be resolved for a
	// reason that does not heal by itself waits before it is tried again
	// when no input changes (default retry.DefaultStallCap).
	StallCap time.Duration
}

// Executor is what a pass needs of the servers; executor.Executor is the
// real one.
type Executor interface {
	rollout.Servers
	rollout.ConfigApplier
	rollout.CommandRunner
	Observer
	// ClearFailed forgets a failure recorded on a server for an app.
	ClearFailed(ctx context.Context, srv *spec.Server, app *spec.App) (bool, error)
}

// Database is a target of the database lane: what is applied is read
// from it (observation) and changes are applied to it (rollout).
type Database interface {
	Applied(ctx context.Context) (map[string]string, error)
	rollout.Database
}

// Notifier is told what happens; notify.Notifier is the real one.
type Notifier interface {
	Notify(e notify.Event)
}

// History records what the controller did; store.Store is the real one.
type History interface {
	Record(e store.Event) (uint64, error)
}

// Deps are what the controller calls. Every one is required.
type Deps struct {
	Servers Executor
	// LBs gives the environments' load balancers.
	LBs func(env *spec.Environment) (rollout.Balancer, error)
	// DBs gives the databases of the database lane.
	DBs func(target string) (Database, error)
	// Artifacts fetches Git artifacts (and, when it can, the commit a
	// moved tag was pinned to: resolve.CommitFetcher).
	Artifacts resolve.ArtifactFetcher
	Metrics   *metrics.Metrics
	History   History
	Notifier  Notifier
	// Failures keeps the last failed step of every server, for the plans
	// to show (OpenFailures; "" keeps them in memory).
	Failures *Failures
	Log      *slog.Logger
	Now      func() time.Time
}

// Controller is the daemon's control loop; New makes one.
type Controller struct {
	cfg  Config
	deps Deps
	ro   *rollout.Rollout
	log  *slog.Logger

	work sync.Mutex // held by a pass or an operation: one writer at a time
	ops  chan *Operation
	opsState

	mu       sync.Mutex
	desired  *plan.Desired
	rejected *rejection    // the newest snapshot, when it was rejected
	wake     chan struct{} // a pass is due
	kick     bool          // an input changed: retry a rejected snapshot now
	tagMoves map[string]bool
	envNames []string // environments with per-environment series

	managedMu sync.Mutex
	managed   *plan.Managed // the servers of the desired state in force

	drift  driftState
	status statusState
}

// rejection is a snapshot that could not be put in force, and when it is
// tried again.
type rejection struct {
	snap     *source.Snapshot
	err      error
	failures int
	next     time.Time
}

// New checks cfg and deps and returns a controller; a missing dependency
// is an error that names it.
func New(cfg Config, deps Deps) (*Controller, error) {
	var missing []string
	for name, absent := range map[string]bool{
		"Servers": deps.Servers == nil, "LBs": deps.LBs == nil, "DBs": deps.DBs == nil, "Artifacts": deps.Artifacts == nil,
		"Metrics": deps.Metrics == nil, "History": deps.History == nil, "Notifier": deps.Notifier == nil,
		"Failures": deps.Failures == nil, "Log": deps.Log == nil, "Now": deps.Now == nil,
	} {
		if absent {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("reconcile.New: missing dependencies: %v", missing)
	}
	if cfg.Resync <= 0 || cfg.ObserveTimeout <= 0 || cfg.StageTimeout <= 0 || cfg.ObserveParallelism < 1 || cfg.StageParallelism < 1 {
		return nil, errors.New("reconcile.New: Resync, ObserveTimeout, StageTimeout, ObserveParallelism and StageParallelism must be positive")
	}
	c := &Controller{cfg: cfg, deps: deps, log: deps.Log, wake: make(chan struct{}, 1), ops: make(chan *Operation, maxQueuedOps)}
	c.ro = &rollout.Rollout{
		Servers: deps.Servers, Config: deps.Servers, Commands: deps.Servers,
		LBs: deps.LBs, DBs: func(target string) (rollout.Database, error) { return deps.DBs(target) },
		Metrics: deps.Metrics, Log: deps.Log, Now: deps.Now,
		StageParallelism: cfg.StageParallelism, StageTimeout: cfg.StageTimeout,
	}
	if err := c.ro.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

// Trigger asks for a pass as soon as the one under way, if any, is over.
func (c *Controller) Trigger() {
	select {
	case c.wake <- struct{}{}:
	default: // a pass is already due
	}
}

// Sync asks for a pass at once, and for a desired state that was rejected
// to be tried again now: an input changed (a sync request, SIGHUP).
func (c *Controller) Sync() {
	c.mu.Lock()
	c.kick = true
	c.mu.Unlock()
	c.Trigger()
}

// Update takes what a source reports. A snapshot that cannot be resolved
// is logged and counted, and the last good desired state stays in force.
func (c *Controller) Update(u source.Update) {
	if u.Err != nil {
		c.log.Error("source read failed; keeping the last good desired state", "err", u.Err, "retry", source.RetryKind(u.Err).String())
		c.deps.Metrics.SourceFailed(metrics.ReasonRead)
		if source.IsRefusal(u.Err) {
			c.deps.Metrics.DesiredRefused()
		}
		return
	}
	if c.accept(u.Snapshot, true) == nil {
		c.Trigger()
	}
}

// Accept resolves a snapshot and puts it in force at once, or says why it
// cannot: what a one-shot command does instead of watching the source.
func (c *Controller) Accept(s *source.Snapshot) error { return c.accept(s, false) }

// accept resolves a snapshot and puts it in force, or keeps it aside to be
// tried again: at once for a new snapshot, after a backoff for one that
// failed for a transient reason (a remote down), and at the stall cap, or
// when an input changes, for one that does not heal by itself.
func (c *Controller) accept(s *source.Snapshot, fresh bool) error {
	now := c.deps.Now()
	c.mu.Lock()
	prevRej := c.rejected
	c.mu.Unlock()
	if fresh && prevRej != nil && prevRej.snap.Revision == s.Revision && now.Before(prevRej.next) {
		c.log.Debug("desired state unchanged since it was rejected; retried later", "revision", s.Short(), "next", prevRej.next)
		return prevRej.err
	}
	d, err := resolve.Resolve(context.Background(), s, c.deps.Artifacts, c.cfg.Spec)
	if err != nil {
		c.reject(s, err, prevRej, now)
		return err
	}
	c.mu.Lock()
	prev := c.desired
	c.desired, c.rejected = d, nil
	c.mu.Unlock()
	c.deps.Metrics.DesiredAccepted(d.Revision, d.Origin, now)
	attrs := []any{"revision", s.Short(), "origin", d.Origin, "releases", len(d.Spec.Releases)}
	if prev != nil {
		attrs = append(attrs, "previous", fleet.ShortRevision(prev.Revision))
	}
	c.log.Info("desired state accepted", attrs...)
	c.noteUnmanaged(d)
	return nil
}

// maxLoggedErrors bounds the lines logged for one rejected desired state.
const maxLoggedErrors = 50

// reject keeps a snapshot that could not be resolved aside, with the time
// it is tried again, and says why.
func (c *Controller) reject(s *source.Snapshot, err error, prev *rejection, now time.Time) {
	rej := &rejection{snap: s, err: err, failures: 1}
	if prev != nil && prev.snap.Revision == s.Revision {
		rej.failures = prev.failures + 1
	}
	policy := retry.Policy{Backoff: retry.Backoff{Base: time.Second, Cap: c.cfg.Resync, Jitter: 0.2}, StallCap: c.cfg.StallCap}
	wait := policy.After(err, rej.failures, now)
	rej.next = now.Add(wait)
	c.mu.Lock()
	c.rejected = rej
	c.mu.Unlock()
	invalid := resolve.IsInvalid(err)
	if invalid {
		c.deps.Metrics.SourceFailed(metrics.ReasonInvalid)
	} else {
		c.deps.Metrics.SourceFailed(metrics.ReasonArtifact)
	}
	keep := "none"
	if d := c.Desired(); d != nil {
		keep = fleet.ShortRevision(d.Revision)
	}
	attrs := []any{"revision", s.Short(), "keeping", keep, "retry", retry.KindOf(err).String(), "next", wait.Round(time.Second).String()}
	var errs spec.Errors
	var rerr *resolve.Error
	if errors.As(err, &rerr) {
		errs = append(append(errs, rerr.Invalid...), rerr.Fetch...)
	} else if !errors.As(err, &errs) {
		c.log.Error("desired state rejected", append(attrs, "err", err)...)
		return
	}
	what := "desired state rejected"
	if !invalid {
		what = "desired state not resolved: artifacts could not be fetched"
	}
	c.log.Error(what, append(attrs, "problems", len(errs))...)
	for i, e := range errs {
		if i == maxLoggedErrors {
			c.log.Error("more problems not shown", "count", len(errs)-i)
			break
		}
		c.log.Error("desired state problem", "at", e.Pos.String(), "problem", e.Msg)
	}
}

// Desired is the desired state in force, nil before the first valid one.
func (c *Controller) Desired() *plan.Desired {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.desired
}

// retryRejected tries a rejected snapshot again when its time came or an
// input changed.
func (c *Controller) retryRejected() {
	now := c.deps.Now()
	c.mu.Lock()
	rej, kick := c.rejected, c.kick
	c.kick = false
	c.mu.Unlock()
	if rej == nil || (!kick && now.Before(rej.next)) {
		return
	}
	c.accept(rej.snap, false)
}

// Run runs passes and operations until stop is done; a pass under way then
// finishes the server steps it has started and starts no more. ctx cancels
// everything, steps in flight included.
func (c *Controller) Run(ctx, stop context.Context) {
	timer := time.NewTimer(c.jittered())
	defer timer.Stop()
	for {
		select {
		case <-stop.Done():
			c.drainOps(errors.New("the daemon is stopping"))
			return
		case op := <-c.ops:
			c.runOp(ctx, stop, op)
			continue
		case <-c.wake:
		case <-timer.C:
		}
		c.retryRejected()
		wait := c.jittered()
		if d := c.Desired(); d != nil {
			pr := c.Pass(ctx, stop, d)
			// A change waiting for its window is taken up when it opens.
			if next := pr.Plan.NextOpening(); !next.IsZero() {
				if until := next.Sub(c.deps.Now()); until < wait {
					wait = max(until, 100*time.Millisecond)
				}
			}
		}
		if rej := c.rejection(); rej != nil {
			if until := rej.next.Sub(c.deps.Now()); until < wait {
				wait = max(until, 100*time.Millisecond)
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

func (c *Controller) rejection() *rejection {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rejected
}

func (c *Controller) jittered() time.Duration {
	return retry.Backoff{Base: c.cfg.Resync, Cap: c.cfg.Resync, Jitter: 0.1}.Delay(1)
}
