package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/fleet"

	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
)

// Step names a server step of a rollout.
type Step string

// The steps.
const (
	StepStage    Step = "stage"
	StepActivate Step = "activate"
	// StepApply writes managed files (environment lane).
	StepApply Step = "apply"
	// StepMigrate applies database changes (database lane).
	StepMigrate Step = "migrate"
)

// ServerResult is how one server of a change fared.
type ServerResult struct {
	Server string `json:"server"`
	// Step is the last step attempted; with Err, the one that failed.
	Step Step   `json:"step,omitempty"`
	Err  string `json:"error,omitempty"`
	// Staged is true when this rollout staged the release on the server.
	Staged bool `json:"staged,omitempty"`
	// Done is true when the server is on the new release.
	Done bool `json:"done"`
}

// Result is the outcome of one change.
type Result struct {
	Change   *Change        `json:"change"`
	Servers  []ServerResult `json:"servers"`
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
	// Stopped is set when a shutdown kept some servers from being started.
	Stopped bool `json:"stopped,omitempty"`
	// Waiting is set when the change was outside its window: the release
	// was staged, not activated.
	Waiting bool `json:"waiting,omitempty"`
}

// Failed is the number of servers whose step failed.
func (r *Result) Failed() int {
	n := 0
	for _, s := range r.Servers {
		if s.Err != "" {
			n++
		}
	}
	return n
}

// Outcome is "success" when every server is on the new release, "stopped"
// when a shutdown cut the rollout short without failures, "failure" else.
func (r *Result) Outcome() string {
	switch {
	case r.Failed() > 0:
		return "failure"
	case r.Stopped:
		return "stopped"
	case r.Waiting:
		return "staged"
	}
	return "success"
}

// Rollout carries out changes on the fleet.
type Rollout struct {
	Exec Executor
	Log  *slog.Logger
	// StageParallelism bounds how many servers are staged at once.
	StageParallelism int
	// LBs gives the load balancers of the rolling and parallel strategies
	// (default DefaultLBs).
	LBs LBFunc
	// DBs gives the databases of the database lane.
	DBs DBFunc
	Now func() time.Time
}

// Execute carries out one change. Steps already started finish even when
// stop is done; no new step starts after it. ctx cancels steps in flight.
func (ro *Rollout) Execute(ctx, stop context.Context, d *Desired, ch *Change) *Result {
	res := &Result{Change: ch, Started: ro.Now()}
	defer func() { res.Finished = ro.Now() }()
	if ch.Lane == LaneDatabase {
		if ch.Wait != nil {
			res.Waiting = true
			return res
		}
		ro.database(ctx, stop, d, ch, res)
		return res
	}
	if ch.Lane == LaneEnvironment {
		if ch.Wait != nil {
			res.Waiting = true
			return res
		}
		ro.environment(ctx, stop, d, ch, res)
		return res
	}
	if ch.Wait != nil {
		// Outside the window: distribution goes ahead, delivery waits.
		res.Waiting = true
		ro.stageOnly(ctx, stop, d, ch, res)
		return res
	}
	switch ch.Strategy {
	case spec.Live:
		ro.live(ctx, stop, d, ch, res)
	case spec.Rolling:
		ro.rolling(ctx, stop, d, ch, res)
	case spec.Parallel:
		ro.parallel(ctx, stop, d, ch, res)
	default:
		// Unreachable: spec validation accepts only known strategies.
		for _, s := range ch.Servers {
			res.Servers = append(res.Servers, ServerResult{Server: s.Server, Err: fmt.Sprintf("strategy %q is not supported", ch.Strategy)})
		}
	}
	return res
}

// live stages the release on every server that lacks it, then activates it
// everywhere, each phase with bounded parallelism. A server that fails is
// reported and left out of later steps; the others carry on.
func (ro *Rollout) live(ctx, stop context.Context, d *Desired, ch *Change, res *Result) {
	env := d.Spec.Environment(ch.Environment)
	app := d.Spec.App(ch.App)
	rel := d.Releases[ch.Key()]
	var release *spec.Release
	for _, r := range d.Spec.Releases {
		if r.Key() == ch.Key() {
			release = r
		}
	}
	log := ro.Log.With("environment", ch.Environment, "app", ch.App, "revision", source.ShortRevision(d.Revision))
	servers := map[string]*spec.Server{}
	for i := range env.Servers {
		servers[env.Servers[i].Name] = &env.Servers[i]
	}

	res.Servers = make([]ServerResult, len(ch.Servers))
	var mu sync.Mutex
	set := func(i int, step Step, err error, done bool) {
		mu.Lock()
		defer mu.Unlock()
		r := &res.Servers[i]
		r.Step, r.Done = step, done
		if step == StepStage && err == nil {
			r.Staged = true
		}
		if err != nil {
			r.Err = err.Error()
		}
	}
	request := func(i int) fleet.Request {
		name := ch.Servers[i].Server
		return fleet.Request{
			Environment: ch.Environment, App: app, Server: servers[name], Release: rel,
			Revision: d.Revision, Log: log.With("server", name),
		}
	}
	for i, s := range ch.Servers {
		res.Servers[i].Server = s.Server
	}

	// Distribution.
	var toStage []int
	for i, s := range ch.Servers {
		if s.Stage {
			toStage = append(toStage, i)
		}
	}
	if len(toStage) > 0 {
		log.Info("distributing release", "release", rel.ID, "servers", len(toStage))
	}
	started := make([]bool, len(ch.Servers))
	forEach(stop, len(toStage), ro.StageParallelism, func(j int) {
		i := toStage[j]
		started[i] = true
		r := request(i)
		t0 := time.Now()
		err := ro.Exec.Stage(ctx, r)
		if err != nil {
			r.Log.Error("stage failed", "release", rel.ID, "err", err)
		} else {
			r.Log.Info("staged", "release", rel.ID, "duration", time.Since(t0).Round(time.Millisecond).String())
		}
		set(i, StepStage, err, false)
	})

	// Activation.
	var toActivate []int
	for i, s := range ch.Servers {
		if (s.Activate || s.Heal) && res.Servers[i].Err == "" && (!s.Stage || started[i]) {
			toActivate = append(toActivate, i)
		}
	}
	if len(toActivate) > 0 && stop.Err() == nil {
		log.Info("activating release", "release", rel.ID, "servers", len(toActivate), "parallelism", release.Live.Parallelism)
	}
	activated := make([]bool, len(ch.Servers))
	forEach(stop, len(toActivate), release.Live.Parallelism, func(j int) {
		i := toActivate[j]
		activated[i] = true
		r := request(i)
		t0 := time.Now()
		var err error
		if ch.Servers[i].Heal {
			err = ro.Exec.Heal(ctx, r, ch.Servers[i].Files)
		} else {
			err = ro.Exec.Activate(ctx, r)
		}
		if err != nil {
			r.Log.Error("activation failed", "release", rel.ID, "err", err)
		} else {
			r.Log.Info("activated", "release", rel.ID, "from", ch.Servers[i].From, "duration", time.Since(t0).Round(time.Millisecond).String())
		}
		set(i, StepActivate, err, err == nil)
	})
	for i := range ch.Servers {
		if res.Servers[i].Err == "" && !activated[i] {
			res.Stopped = true
		}
	}
}
