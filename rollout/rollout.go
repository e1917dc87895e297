package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/spec"
)

// Rollout carries out changes on the fleet. Every field is required;
// New checks them.
type Rollout struct {
	Servers  Servers
	Config   ConfigApplier
	Commands CommandRunner
	LBs      BalancerFunc
	DBs      DatabaseFunc
	Metrics  Metrics
	Log      *slog.Logger
	Now      func() time.Time
	// StageParallelism bounds how many servers are staged at once
	// (distribution.parallelism).
	StageParallelism int
	// StageTimeout bounds staging a release on one server
	// (distribution.timeout).
	StageTimeout time.Duration
}

// Check reports the fields that are missing.
func (ro *Rollout) Check() error {
	var missing []string
	for name, absent := range map[string]bool{
		"Servers": ro.Servers == nil, "Config": ro.Config == nil, "Commands": ro.Commands == nil,
		"LBs": ro.LBs == nil, "DBs": ro.DBs == nil, "Metrics": ro.Metrics == nil, "Log": ro.Log == nil, "Now": ro.Now == nil,
	} {
		if absent {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("rollout: missing %v", missing)
	}
	if ro.StageParallelism < 1 || ro.StageTimeout <= 0 {
		return errors.New("rollout: StageParallelism and StageTimeout must be positive")
	}
	return nil
}

// Execute carries out one change and returns its result. Steps already
// started finish even when stop is done; no new step starts after it. ctx
// cancels steps in flight.
func (ro *Rollout) Execute(ctx, stop context.Context, ch *plan.Change) *Result {
	res := &Result{}
	ro.ExecuteInto(ctx, stop, ch, res)
	return res
}

// ExecuteInto is Execute into a result the caller holds: when a step
// panics, the panic reaches the caller (see Panic) and res holds what was
// done until then.
func (ro *Rollout) ExecuteInto(ctx, stop context.Context, ch *plan.Change, res *Result) {
	res.Change, res.Started = ch, ro.Now()
	defer func() { res.Finished = ro.Now() }()
	switch {
	case ch.Lane == plan.LaneDatabase && ch.Wait != nil, ch.Lane == plan.LaneEnvironment && ch.Wait != nil:
		res.Waiting = true
	case ch.Lane == plan.LaneDatabase:
		ro.database(ctx, stop, ch, res)
	case ch.Lane == plan.LaneEnvironment:
		ro.environment(ctx, stop, ch, res)
	case ch.Wait != nil:
		// Outside the window: distribution goes ahead, delivery waits.
		res.Waiting = true
		ro.stageOnly(ctx, stop, ch, res)
	case ch.Strategy == spec.Live:
		ro.live(ctx, stop, ch, res)
	case ch.Strategy == spec.Rolling:
		ro.rolling(ctx, stop, ch, res)
	case ch.Strategy == spec.Parallel:
		ro.parallel(ctx, stop, ch, res)
	default:
		// Unreachable: spec validation accepts only known strategies.
		for _, s := range ch.Servers {
			res.Servers = append(res.Servers, ServerResult{Server: s.Server, Err: fmt.Sprintf("strategy %q is not supported", ch.Strategy)})
		}
	}
}

// stageOnly distributes the release of a change that waits for its
// window; servers left out of a load balancer are put back all the same,
// since that restores a whole, healthy release.
func (ro *Rollout) stageOnly(ctx, stop context.Context, ch *plan.Change, res *Result) {
	u, err := ro.newRun(ctx, stop, ch, res)
	if err != nil {
		u.failAll(err)
		return
	}
	for _, s := range ch.Servers {
		if s.Stage {
			u.log.Info("outside the window: staging only", "release", ch.To, "why", ch.Wait.Why, "next", ch.Wait.Next)
			break
		}
	}
	u.stage()
	if u.lb == nil {
		return
	}
	for _, s := range ch.Servers {
		if s.Restore {
			err := u.restore(s.Server, s.From, u.drainTimeout())
			u.set(s.Server, plan.StepReady, err, err == nil)
		}
	}
}

// live stages the release on every server that lacks it, then activates it
// everywhere, each phase with bounded parallelism. A server that fails is
// reported and left out of later steps; the others carry on.
func (ro *Rollout) live(ctx, stop context.Context, ch *plan.Change, res *Result) {
	u, err := ro.newRun(ctx, stop, ch, res)
	if err != nil {
		u.failAll(err)
		return
	}
	u.stage()
	var names []string
	for _, s := range ch.Servers {
		e := u.result(s.Server)
		staged := !s.Stage || (e.Step == plan.StepStage && e.Staged)
		if (s.Activate || s.Heal) && e.Err == "" && staged {
			names = append(names, s.Server)
		}
	}
	parallelism := ch.Spec.Release.Live.Parallelism
	if len(names) > 0 && stop.Err() == nil {
		u.log.Info("activating release", "release", ch.To, "servers", len(names), "parallelism", parallelism)
	}
	activated := u.activate(names, parallelism)
	for _, s := range ch.Servers {
		if u.result(s.Server).Err == "" && !activated[s.Server] {
			res.Stopped = true
		}
	}
}
