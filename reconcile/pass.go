package reconcile

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/metrics"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/rollout"
)

// PassResult is what one pass saw and did.
type PassResult struct {
	// Plan is the plan the pass carried out.
	Plan    *plan.Plan
	Results []*rollout.Result
}

// pass is the state one pass's steps share.
type pass struct {
	ctx, stop context.Context
	d         *plan.Desired
	obs       *plan.Observed
	plan      *plan.Plan // what the pass carries out
	after     *plan.Plan // the standing after it (refresh)
	results   []*rollout.Result
	envErrs   map[string]error // environments whose execution failed as a whole
	reasons   []string         // of the pass's errors, for metrics
	start     time.Time
	preview   bool // `gitfleet plan`: nothing is kept or reported
	shown     bool // plan was shown as the pass's progress
}

// step is one step of a pass. A step that returns an error ends the pass;
// what was found so far is published all the same.
type step struct {
	name string
	run  func(c *Controller, p *pass) error
}

// passSteps are the steps of a pass, in order.
var passSteps = []step{
	{"observe", (*Controller).observeStep},
	{"check content", (*Controller).contentStep},
	{"plan", (*Controller).planStep},
	{"execute", (*Controller).executeStep},
	{"refresh", (*Controller).refreshStep},
}

// previewSteps are the steps `gitfleet plan` runs: a pass up to its plan.
var previewSteps = passSteps[:3]

// errStopped ends a pass that was told to stop.
var errStopped = errors.New("stopped")

// Pass observes the fleet, plans and carries out the plan. Environments are
// rolled out side by side; the changes of one environment one after
// another. The standing is published once, when the pass ends.
func (c *Controller) Pass(ctx, stop context.Context, d *plan.Desired) PassResult {
	c.work.Lock()
	defer c.work.Unlock()
	p := &pass{ctx: ctx, stop: stop, d: d, start: time.Now(), envErrs: map[string]error{}}
	defer c.publish(p)
	c.runSteps(p, passSteps)
	return PassResult{Plan: p.plan, Results: p.results}
}

// Preview runs the steps of a pass up to its plan and returns the plan,
// with the failures kept so far; it changes nothing and publishes nothing.
// `gitfleet plan` prints it: what the next pass would do.
func (c *Controller) Preview(ctx context.Context, d *plan.Desired) *plan.Plan {
	p := &pass{ctx: ctx, stop: ctx, d: d, start: time.Now(), envErrs: map[string]error{}, preview: true}
	c.runSteps(p, previewSteps)
	if p.plan != nil {
		plan.Annotate(p.plan, c.deps.Failures.Snapshot())
	}
	return p.plan
}

// runSteps runs steps until one fails; a panic in a step is turned into
// an error of the pass.
func (c *Controller) runSteps(p *pass, steps []step) {
	for _, s := range steps {
		err := c.runStep(p, s)
		if errors.Is(err, errStopped) {
			return
		}
		if err != nil {
			c.log.Error("pass step failed", "step", s.name, "revision", fleet.ShortRevision(p.d.Revision), "err", err)
			return
		}
	}
}

func (c *Controller) runStep(p *pass, s step) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in step %s: %v", s.name, r)
			c.log.Error("panic in a pass", "step", s.name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			p.reasons = append(p.reasons, metrics.ReasonPanic)
		}
	}()
	return s.run(c, p)
}

// planStep makes the plan of the pass from the desired state and the
// observation.
func (c *Controller) planStep(p *pass) error {
	p.plan = plan.MakePlan(p.d, p.obs, c.deps.Now())
	log := c.log.With("revision", fleet.ShortRevision(p.d.Revision))
	for _, st := range p.plan.Status {
		for _, s := range st.Servers {
			if s.State == plan.Unreachable {
				log.Warn("server unreachable", "environment", st.Environment, "app", st.App, "server", s.Server, "err", s.Reason)
			}
		}
	}
	if len(p.plan.Changes) == 0 {
		log.Debug("fleet in sync", "releases", len(p.plan.Status))
	} else {
		log.Info("plan", "changes", len(p.plan.Changes), "server_steps", p.plan.Pending())
	}
	return nil
}

// refreshStep observes the fleet again after changes, for the standing
// published; what is still out of sync is retried by the next pass, never
// in a loop.
func (c *Controller) refreshStep(p *pass) error {
	if len(p.results) == 0 {
		return nil
	}
	if p.stop.Err() != nil {
		return errStopped
	}
	obs := c.observe(p.stop, p.d)
	obs.Content = c.contentSnapshot()
	p.after = plan.MakePlan(p.d, obs, c.deps.Now())
	// Files that waited for their environment go next, at once.
	for _, r := range p.results {
		if r.Change.Lane != plan.LaneFiles && !r.Waiting && r.Failed() == 0 && r.Change.Blocked == "" {
			c.Trigger()
			break
		}
	}
	return nil
}

// publish makes what a pass found known when the pass ends, whatever
// happened: the standing after its changes (or, when it made none, its
// plan), and the pass's metrics.
func (c *Controller) publish(p *pass) {
	if r := recover(); r != nil {
		c.log.Error("panic in a pass", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		p.reasons = append(p.reasons, metrics.ReasonPanic)
	}
	final := p.after
	if final == nil {
		final = p.plan
	}
	if final != nil && !(final == p.plan && p.shown) {
		c.show(final)
	}
	for _, st := range statusOf(final) {
		if st.Counts[plan.Unreachable] > 0 {
			p.reasons = append(p.reasons, metrics.ReasonUnreachable)
			break
		}
	}
	for _, r := range p.results {
		if r.Failed() > 0 {
			p.reasons = append(p.reasons, metrics.ReasonRollout)
			break
		}
	}
	if final != nil && p.stop.Err() == nil {
		c.markEnvironments(p, final)
	}
	c.deps.Metrics.ReconcileDone(time.Since(p.start), c.deps.Now(), dedupe(p.reasons)...)
}

// show makes a plan the one people and dashboards see: the failures kept
// are brought up to date and noted in it first; then it is the status, the
// servers' standing and the drift. From then on it is only read: a shown
// plan is never changed. A pass shows its plan when it starts carrying it
// out (so that a rollout under way is seen against the desired state it
// carries out) and, in publish, the standing it leaves.
func (c *Controller) show(pl *plan.Plan) {
	if err := c.deps.Failures.Forget(pl); err != nil {
		c.log.Warn("cannot keep the record of failed steps", "err", err)
	}
	plan.Annotate(pl, c.deps.Failures.Snapshot())
	c.setPlan(pl)
	c.recordStatus(pl)
	c.recordDrift(pl)
}

func statusOf(p *plan.Plan) []*plan.AppStatus {
	if p == nil {
		return nil
	}
	return p.Status
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
