package reconcile

import (
	"context"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/metrics"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/rollout"
)

// executeStep carries out the plan: environments side by side, the changes
// of one environment one after another. A panic in one environment becomes
// an error of that environment; the others go on.
func (c *Controller) executeStep(p *pass) error {
	if len(p.plan.Changes) == 0 {
		return nil
	}
	c.show(p.plan)
	p.shown = true
	byEnv := map[string][]*plan.Change{}
	var envs []string
	for _, ch := range p.plan.Changes {
		if byEnv[ch.Environment] == nil {
			envs = append(envs, ch.Environment)
		}
		byEnv[ch.Environment] = append(byEnv[ch.Environment], ch)
	}
	sort.Strings(envs)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, env := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					err := fmt.Errorf("environment %s: internal error: %v", env, r)
					c.log.Error("environment failed in this pass", "environment", env, "err", err, "stack", string(debug.Stack()))
					mu.Lock()
					p.envErrs[env] = err
					p.reasons = append(p.reasons, metrics.ReasonPanic)
					mu.Unlock()
				}
			}()
			for _, ch := range byEnv[env] {
				if p.stop.Err() != nil {
					return
				}
				res := &rollout.Result{Change: ch}
				mu.Lock()
				p.results = append(p.results, res)
				mu.Unlock()
				c.executeChange(p.ctx, p.stop, ch, res)
			}
		}()
	}
	wg.Wait()
	return nil
}

// executeChange carries out one change into res; the result is recorded
// (history, metrics, notification, failures) in a defer, also when the
// rollout panics: then every server not done is failed with the panic,
// which goes on to the environment.
func (c *Controller) executeChange(ctx, stop context.Context, ch *plan.Change, res *rollout.Result) {
	log := c.log.With("environment", ch.Environment, "app", ch.App, "revision", fleet.ShortRevision(ch.Spec.Revision))
	isRollout := ch.Wait == nil
	if isRollout {
		log.Info("rollout started", "strategy", ch.Strategy, "release", ch.To, "servers", len(ch.Servers), "reason", ch.Reason)
		c.deps.Metrics.RolloutStarted()
		c.started(ch, c.deps.Now())
		c.notifyRollout(ch, nil)
	}
	defer func() {
		r := recover()
		if r != nil {
			panicked(ch, res, r, c.deps.Now())
		}
		c.finish(log, ch, res, isRollout)
		if r != nil {
			panic(r)
		}
	}()
	c.ro.ExecuteInto(ctx, stop, ch, res)
}

// panicked completes the result of a change whose rollout panicked: every
// server not done failed with the panic.
func panicked(ch *plan.Change, res *rollout.Result, r any, now time.Time) {
	if p, ok := r.(*rollout.Panic); ok {
		r = p.Value
	}
	res.Finished = now
	have := map[string]int{}
	for i, s := range res.Servers {
		have[s.Server] = i
	}
	for _, s := range ch.Servers {
		if _, ok := have[s.Server]; !ok {
			have[s.Server] = len(res.Servers)
			res.Servers = append(res.Servers, rollout.ServerResult{Server: s.Server})
		}
	}
	for i := range res.Servers {
		if sr := &res.Servers[i]; !sr.Done && sr.Err == "" {
			sr.Err = fmt.Sprintf("internal error: %v", r)
		}
	}
}

// finish records what a change did: the failures kept, the content checks,
// the metrics, the history and the notification.
func (c *Controller) finish(log interface {
	Info(string, ...any)
	Error(string, ...any)
}, ch *plan.Change, res *rollout.Result, isRollout bool) {
	if err := c.deps.Failures.Record(res, c.deps.Now()); err != nil {
		c.log.Warn("cannot keep the record of failed steps", "err", err)
	}
	c.forgetHealed(res)
	if !isRollout {
		// Not a rollout yet: the release is staged ahead of its window.
		for _, s := range res.Servers {
			if s.Step == plan.StepStage {
				c.deps.Metrics.ServerStep(ch.Environment, ch.App, string(plan.StepStage), s.Err == "")
			}
		}
		return
	}
	c.finished(ch)
	c.record(ch, res)
	c.notifyRollout(ch, res)
	c.deps.Metrics.RolloutDone(ch.Environment, ch.App, res.Outcome())
	c.deps.Metrics.DeploymentDone(string(ch.Strategy), res.Outcome(), res.Finished.Sub(res.Started))
	for _, s := range res.Servers {
		if s.Staged {
			c.deps.Metrics.ServerStep(ch.Environment, ch.App, string(plan.StepStage), true)
		}
		if s.Step != "" && !(s.Step == plan.StepStage && s.Staged) {
			c.deps.Metrics.ServerStep(ch.Environment, ch.App, string(s.Step), s.Err == "")
		}
	}
	attrs := []any{"result", res.Outcome(), "release", ch.To, "done", res.Done(), "failed", res.Failed(), "duration", res.Finished.Sub(res.Started).Round(time.Millisecond).String()}
	if res.Failed() > 0 {
		log.Error("rollout finished", attrs...)
	} else {
		log.Info("rollout finished", attrs...)
	}
}

// recordStatus publishes the servers' sync states of a plan.
func (c *Controller) recordStatus(p *plan.Plan) {
	states := make([]string, len(plan.SyncStates))
	for i, s := range plan.SyncStates {
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
	c.deps.Metrics.SetServers(states, apps)
}

// markEnvironments records the environments whose observation and changes
// went without an error in this pass.
func (c *Controller) markEnvironments(p *pass, final *plan.Plan) {
	failed := map[string]bool{}
	for env := range p.envErrs {
		failed[env] = true
	}
	for _, st := range final.Status {
		if st.Counts[plan.Unreachable] > 0 {
			failed[st.Environment] = true
		}
	}
	for _, r := range p.results {
		if r.Failed() > 0 {
			failed[r.Change.Environment] = true
		}
	}
	keep := map[string]bool{}
	for _, e := range p.d.Spec.Environments {
		keep[e.Name] = true
		if !failed[e.Name] {
			c.deps.Metrics.EnvironmentReconciled(e.Name, c.deps.Now())
		}
	}
	c.mu.Lock()
	prev := c.envNames
	c.envNames = nil
	for e := range keep {
		c.envNames = append(c.envNames, e)
	}
	c.mu.Unlock()
	c.deps.Metrics.ForgetEnvironments(keep, prev)
}
