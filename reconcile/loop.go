package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/metrics"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
)

// Controller is the daemon's control loop: it keeps the last good desired
// state and runs a pass on start, on every new desired state and every
// resync interval.
type Controller struct {
	Exec    Executor
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// Resync is the interval between passes when nothing else triggers
	// one; each wait is jittered by up to ±10%.
	Resync             time.Duration
	ObserveParallelism int
	ObserveTimeout     time.Duration
	StageParallelism   int
	// Artifacts fetches Git artifacts; nil leaves them unresolved.
	Artifacts ArtifactFetcher
	// Failures, when set, keeps the last failed step of every server for
	// the plans to show.
	Failures *Failures
	// LBs gives the environments' load balancers (default DefaultLBs).
	LBs LBFunc
	// DBs gives the databases of the database lane.
	DBs DBFunc
	// History, when set, records every rollout, environment change and
	// database change.
	History History
	// Notifier, when set, is told of rollouts and of drift.
	Notifier Notifier
	// ContentInterval is how often the files of active releases are
	// checked against the releases (default 10m; negative: never).
	ContentInterval time.Duration
	// ConfigRoots, when not nil, are the only directories managed files
	// of the environment lane may be in (environmentFiles.roots).
	ConfigRoots []string
	// Spec are the limits and checks of gitfleet.yaml a desired state is
	// loaded with (ConfigRoots, when set, are its roots).
	Spec spec.Options
	// ManagedFile, when set, keeps the servers of the desired state in
	// force, to tell which servers a new desired state unmanages across
	// restarts and for `gitfleet plan`.
	ManagedFile string
	Now         func() time.Time

	drift        driftState
	status       statusState
	envNames     []string // environments with per-environment series
	mu           sync.Mutex
	desired      *Desired
	rejectedSnap *source.Snapshot // the newest snapshot, when it was rejected
	wake         chan struct{}
	tagMoves     map[string]bool // moved artifact tags already logged and counted
	managedMu    sync.Mutex
	managed      *Managed // the servers of the desired state in force
}

func (c *Controller) init() {
	c.mu.Lock()
	if c.wake == nil {
		c.wake = make(chan struct{}, 1)
	}
	c.mu.Unlock()
}

// Trigger asks for a pass as soon as the one under way, if any, is over.
func (c *Controller) Trigger() { c.trigger() }

func (c *Controller) trigger() {
	c.init()
	select {
	case c.wake <- struct{}{}:
	default: // a pass is already due
	}
}

// Update takes what a source reports. A snapshot that fails validation is
// logged and counted, and the last good desired state stays in force.
func (c *Controller) Update(u source.Update) {
	if u.Err != nil {
		c.Log.Error("source read failed; keeping the last good desired state", "err", u.Err)
		c.Metrics.SourceFailed(metrics.ReasonRead)
		return
	}
	if !c.accept(u.Snapshot) {
		return
	}
	c.trigger()
}

// accept resolves a snapshot and puts it in force, or keeps it aside to be
// tried again at the next resync: resolving fetches Git artifacts, and a
// remote that was down or a tag not pushed yet may be there next time.
func (c *Controller) accept(s *source.Snapshot) bool {
	opts := c.Spec
	if c.ConfigRoots != nil {
		opts.Roots = c.ConfigRoots
	}
	d, err := ResolveWith(context.Background(), s, c.Artifacts, opts)
	c.mu.Lock()
	if err != nil {
		c.rejectedSnap = s
	} else {
		c.rejectedSnap = nil
	}
	c.mu.Unlock()
	if err != nil {
		c.rejected(s, err)
		return false
	}
	c.mu.Lock()
	prev := c.desired
	c.desired = d
	c.mu.Unlock()
	c.Metrics.DesiredAccepted(d.Revision, d.Origin, c.Now())
	attrs := []any{"revision", s.Short(), "origin", d.Origin, "releases", len(d.Spec.Releases)}
	if prev != nil {
		attrs = append(attrs, "previous", source.ShortRevision(prev.Revision))
	}
	c.Log.Info("desired state accepted", attrs...)
	c.noteUnmanaged(d)
	return true
}

// maxLoggedErrors bounds the lines logged for one rejected desired state.
const maxLoggedErrors = 50

func (c *Controller) rejected(s *source.Snapshot, err error) {
	c.Metrics.SourceFailed(metrics.ReasonInvalid)
	keep := "none"
	if d := c.Desired(); d != nil {
		keep = source.ShortRevision(d.Revision)
	}
	var errs spec.Errors
	if !errors.As(err, &errs) {
		c.Log.Error("desired state rejected", "revision", s.Short(), "keeping", keep, "err", err)
		return
	}
	c.Log.Error("desired state rejected", "revision", s.Short(), "keeping", keep, "problems", len(errs))
	for i, e := range errs {
		if i == maxLoggedErrors {
			c.Log.Error("more problems not shown", "count", len(errs)-i)
			break
		}
		c.Log.Error("invalid desired state", "at", e.Pos.String(), "problem", e.Msg)
	}
}

// Desired is the desired state in force, nil before the first valid one.
func (c *Controller) Desired() *Desired {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.desired
}

// Run runs passes until stop is done; a pass under way then finishes the
// server steps it has started and starts no more. ctx cancels everything,
// steps in flight included.
func (c *Controller) Run(ctx, stop context.Context) {
	c.init()
	timer := time.NewTimer(c.jittered())
	defer timer.Stop()
	for {
		select {
		case <-stop.Done():
			return
		case <-c.wake:
		case <-timer.C:
			c.mu.Lock()
			retry := c.rejectedSnap
			c.mu.Unlock()
			if retry != nil {
				c.accept(retry)
			}
		}
		wait := c.jittered()
		if d := c.Desired(); d != nil {
			pr := c.Pass(ctx, stop, d)
			// A change waiting for its window is taken up when it opens.
			if next := pr.Plan.NextOpening(); !next.IsZero() {
				if until := next.Sub(c.Now()); until < wait {
					wait = max(until, 100*time.Millisecond)
				}
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

func (c *Controller) jittered() time.Duration {
	j := time.Duration((rand.Float64()*0.2 - 0.1) * float64(c.Resync))
	return c.Resync + j
}

// PassResult is what one pass saw and did.
type PassResult struct {
	Plan    *Plan
	Results []*Result
}

// Pass observes the fleet, plans and carries out the plan. Environments are
// rolled out side by side; the apps of one environment one after another.
func (c *Controller) Pass(ctx, stop context.Context, d *Desired) (pr PassResult) {
	start := time.Now()
	var reasons []string
	defer func() {
		c.Metrics.ReconcileDone(time.Since(start), c.Now(), reasons...)
	}()

	obs := c.observe(stop, d)
	d = c.pinMovedTags(stop, d, obs)
	if c.contentDue(c.Now()) {
		c.checkContent(stop, d, obs)
	}
	obs.Content = c.contentSnapshot()
	obs.ConfigApplied = c.configAppliedSnapshot()
	plan := MakePlan(d, obs, c.Now())
	pr.Plan = plan
	c.setPlan(plan)
	c.recordStatus(plan)
	c.recordDrift(plan)
	c.noteFailures(plan, nil)
	log := c.Log.With("revision", source.ShortRevision(d.Revision))
	unreachable := 0
	for _, st := range plan.Status {
		unreachable += st.Counts[Unreachable]
	}
	if unreachable > 0 {
		reasons = append(reasons, metrics.ReasonUnreachable)
		for _, st := range plan.Status {
			for _, s := range st.Servers {
				if s.State == Unreachable {
					log.Warn("server unreachable", "environment", st.Environment, "app", st.App, "server", s.Server, "err", s.Reason)
				}
			}
		}
	}
	if len(plan.Changes) == 0 {
		log.Debug("fleet in sync", "releases", len(plan.Status))
		c.markEnvironments(d, plan, nil)
		return pr
	}
	log.Info("plan", "changes", len(plan.Changes), "server_steps", plan.Pending())

	byEnv := map[string][]*Change{}
	var envs []string
	for _, ch := range plan.Changes {
		if byEnv[ch.Environment] == nil {
			envs = append(envs, ch.Environment)
		}
		byEnv[ch.Environment] = append(byEnv[ch.Environment], ch)
	}
	sort.Strings(envs)
	ro := &Rollout{Exec: c.Exec, Log: c.Log, StageParallelism: c.StageParallelism, LBs: c.LBs, DBs: c.DBs, Now: c.Now}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, env := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, ch := range byEnv[env] {
				if stop.Err() != nil {
					return
				}
				res := c.execute(ctx, stop, ro, d, ch)
				c.noteFailures(nil, res)
				c.forgetHealed(res)
				c.configDone(res)
				mu.Lock()
				pr.Results = append(pr.Results, res)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, r := range pr.Results {
		if r.Failed() > 0 {
			reasons = append(reasons, metrics.ReasonRollout)
			break
		}
	}
	if stop.Err() == nil {
		c.markEnvironments(d, plan, pr.Results)
	}
	// Files that waited for their environment go next, at once.
	for _, r := range pr.Results {
		if r.Change.Lane != LaneFiles && !r.Waiting && r.Failed() == 0 && r.Change.Blocked == "" && stop.Err() == nil {
			c.trigger()
			break
		}
	}
	// Refresh the standing for dashboards; what is still out of sync is
	// retried by the next pass, never in a loop.
	if stop.Err() == nil {
		obs := c.observe(stop, d)
		obs.Content = c.contentSnapshot()
		obs.ConfigApplied = c.configAppliedSnapshot()
		after := MakePlan(d, obs, c.Now())
		c.setPlan(after)
		c.recordStatus(after)
		c.recordDrift(after)
		c.noteFailures(after, nil)
	}
	return pr
}

// observe looks at the servers and the load balancers.
func (c *Controller) observe(ctx context.Context, d *Desired) *Observed {
	obs := Observe(ctx, c.Exec, d.Spec, c.ObserveParallelism, c.ObserveTimeout)
	obs.LB = ObserveLBs(ctx, c.LBs, d.Spec)
	obs.Config = ObserveConfig(ctx, c.Exec, d.Spec, c.ObserveParallelism, c.ObserveTimeout)
	obs.DB = ObserveDBs(ctx, c.DBs, d)
	for env, o := range obs.LB {
		if o.Err != nil {
			c.Log.Warn("load balancer unreachable", "environment", env, "err", o.Err)
		}
	}
	return obs
}

// noteFailures keeps the failures file in step with a plan or a rollout
// result and attaches the known failures to the plan.
func (c *Controller) noteFailures(p *Plan, res *Result) {
	if c.Failures == nil {
		return
	}
	var err error
	if p != nil {
		err = c.Failures.Forget(p)
		c.Failures.Annotate(p)
	}
	if res != nil {
		err = c.Failures.Record(res, c.Now())
	}
	if err != nil {
		c.Log.Warn("cannot keep the record of failed steps", "err", err)
	}
}

func (c *Controller) execute(ctx, stop context.Context, ro *Rollout, d *Desired, ch *Change) *Result {
	log := c.Log.With("environment", ch.Environment, "app", ch.App, "revision", source.ShortRevision(d.Revision))
	if ch.Wait != nil {
		// Not a rollout yet: the release is staged ahead of its window.
		res := ro.Execute(ctx, stop, d, ch)
		for _, s := range res.Servers {
			if s.Step == StepStage {
				c.Metrics.ServerStep(ch.Environment, ch.App, string(StepStage), s.Err == "")
			}
		}
		return res
	}
	log.Info("rollout started", "strategy", ch.Strategy, "release", ch.To, "servers", len(ch.Servers), "reason", ch.Reason)
	c.Metrics.RolloutStarted()
	c.started(ch, c.Now())
	c.notifyRollout(d, ch, nil)
	res := ro.Execute(ctx, stop, d, ch)
	c.finished(ch)
	c.record(d, ch, res)
	c.notifyRollout(d, ch, res)
	c.Metrics.RolloutDone(ch.Environment, ch.App, res.Outcome())
	c.Metrics.DeploymentDone(string(ch.Strategy), res.Outcome(), res.Finished.Sub(res.Started))
	for _, s := range res.Servers {
		if s.Staged {
			c.Metrics.ServerStep(ch.Environment, ch.App, string(StepStage), true)
		}
		if s.Step != "" && !(s.Step == StepStage && s.Staged) {
			c.Metrics.ServerStep(ch.Environment, ch.App, string(s.Step), s.Err == "")
		}
	}
	done := 0
	for _, s := range res.Servers {
		if s.Done {
			done++
		}
	}
	attrs := []any{"result", res.Outcome(), "release", ch.To, "done", done, "failed", res.Failed(), "duration", res.Finished.Sub(res.Started).Round(time.Millisecond).String()}
	if res.Failed() > 0 {
		log.Error("rollout finished", attrs...)
	} else {
		log.Info("rollout finished", attrs...)
	}
	return res
}

func (c *Controller) recordStatus(p *Plan) {
	states := make([]string, len(SyncStates))
	for i, s := range SyncStates {
		states[i] = string(s)
	}
	apps := make([]metrics.AppServers, len(p.Status))
	for i, st := range p.Status {
		counts := make(map[string]int, len(st.Counts))
		for k, v := range st.Counts {
			counts[string(k)] = v
		}
		apps[i] = metrics.AppServers{Environment: st.Environment, App: st.App, Counts: counts}
	}
	c.Metrics.SetServers(states, apps)
}

// markEnvironments records the environments whose observation and changes
// went without an error in this pass.
func (c *Controller) markEnvironments(d *Desired, plan *Plan, results []*Result) {
	failed := map[string]bool{}
	for _, st := range plan.Status {
		if st.Counts[Unreachable] > 0 {
			failed[st.Environment] = true
		}
	}
	for _, r := range results {
		if r.Failed() > 0 {
			failed[r.Change.Environment] = true
		}
	}
	keep := map[string]bool{}
	for _, e := range d.Spec.Environments {
		keep[e.Name] = true
		if !failed[e.Name] {
			c.Metrics.EnvironmentReconciled(e.Name, c.Now())
		}
	}
	c.mu.Lock()
	prev := c.envNames
	c.envNames = nil
	for e := range keep {
		c.envNames = append(c.envNames, e)
	}
	c.mu.Unlock()
	c.Metrics.ForgetEnvironments(keep, prev)
}
