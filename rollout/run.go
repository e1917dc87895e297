package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/spec"
)

// lbPoll is how often the load balancer is asked while waiting for a
// server to drain or to come up.
const lbPoll = 100 * time.Millisecond

// run is one change being carried out: its results by server, and its
// load balancer when the environment has one. Every strategy uses it.
type run struct {
	ro       *Rollout
	ctx      context.Context // cancels steps in flight
	stop     context.Context // no new step once done
	ch       *plan.Change
	res      *Result
	log      *slog.Logger
	lb       Balancer
	mu       sync.Mutex
	byServer map[string]int // index into res.Servers
}

// newRun starts the bookkeeping of a change, one result per server of the
// change in its order, and gets the environment's load balancer.
func (ro *Rollout) newRun(ctx, stop context.Context, ch *plan.Change, res *Result) (*run, error) {
	u := &run{ro: ro, ctx: ctx, stop: stop, ch: ch, res: res, byServer: map[string]int{}}
	u.log = ro.Log.With("environment", ch.Environment, "app", ch.App, "revision", fleet.ShortRevision(ch.Spec.Revision))
	for _, s := range ch.Servers {
		u.result(s.Server)
	}
	env := ch.Spec.Env
	if env == nil {
		return u, errors.New("change not resolved against the desired state")
	}
	if env.LoadBalancer == nil {
		return u, nil
	}
	var err error
	u.lb, err = ro.LBs(env)
	return u, err
}

// result returns a server's result, adding it when new.
func (u *run) result(name string) ServerResult {
	u.mu.Lock()
	defer u.mu.Unlock()
	return *u.entry(name)
}

// entry returns the result of a server, adding it when new. Callers hold
// u.mu.
func (u *run) entry(name string) *ServerResult {
	i, ok := u.byServer[name]
	if !ok {
		i = len(u.res.Servers)
		u.byServer[name] = i
		u.res.Servers = append(u.res.Servers, ServerResult{Server: name})
	}
	return &u.res.Servers[i]
}

// set records the last step of a server, its error, and whether it is on
// the change's release.
func (u *run) set(name string, step plan.Step, err error, done bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.entry(name)
	r.Step, r.Done = step, done
	if step == plan.StepStage && err == nil {
		r.Staged = true
	}
	if err != nil {
		r.Err = err.Error()
	} else {
		r.Err = ""
	}
}

func (u *run) failed(name string) bool { return u.result(name).Err != "" }

func (u *run) failAll(err error) {
	for _, s := range u.ch.Servers {
		u.set(s.Server, plan.StepDrain, err, false)
	}
}

func (u *run) server(name string) *spec.Server {
	if s := u.ch.Spec.Servers[name]; s != nil {
		return s
	}
	return &spec.Server{Name: name}
}

func (u *run) request(name string, rel fleet.Release) fleet.Request {
	return fleet.Request{Environment: u.ch.Environment, App: u.ch.Spec.App, Server: u.server(name), Release: rel,
		Revision: u.ch.Spec.Revision, Log: u.log.With("server", name)}
}

// drainTimeout is the release's bound of draining and coming up.
func (u *run) drainTimeout() time.Duration {
	r := u.ch.Spec.Release
	if r == nil {
		return spec.DefaultDrainTimeout
	}
	if r.Strategy == spec.Parallel {
		return r.Parallel.DrainTimeout
	}
	return r.Rolling.DrainTimeout
}

// stage distributes the release to the servers of the change that lack
// it, with bounded parallelism, each bounded by the stage timeout.
func (u *run) stage() {
	var names []string
	for _, s := range u.ch.Servers {
		if s.Stage {
			names = append(names, s.Server)
		}
	}
	if len(names) == 0 {
		return
	}
	rel := u.ch.Spec.Artifact
	u.log.Info("distributing release", "release", rel.ID, "servers", len(names))
	forEach(u.stop, len(names), u.ro.StageParallelism, func(i int) {
		r := u.request(names[i], rel)
		t0 := u.ro.Now()
		ctx, cancel := context.WithTimeout(u.ctx, u.ro.StageTimeout)
		err := u.ro.Servers.Stage(ctx, r)
		cancel()
		if err != nil {
			r.Log.Error("stage failed", "release", rel.ID, "err", err)
		} else {
			r.Log.Info("staged", "release", rel.ID, "duration", u.ro.Now().Sub(t0).Round(time.Millisecond).String())
		}
		u.set(names[i], plan.StepStage, err, false)
	})
}

// activate activates (or heals) the release on names, parallelism at a
// time, and says which were attempted.
func (u *run) activate(names []string, parallelism int) map[string]bool {
	rel := u.ch.Spec.Artifact
	heal := map[string][]string{}
	from := map[string]string{}
	for _, s := range u.ch.Servers {
		from[s.Server] = s.From
		if s.Heal {
			heal[s.Server] = s.Files
		}
	}
	var mu sync.Mutex
	attempted := map[string]bool{}
	forEach(u.stop, len(names), parallelism, func(i int) {
		n := names[i]
		mu.Lock()
		attempted[n] = true
		mu.Unlock()
		r := u.request(n, rel)
		t0 := u.ro.Now()
		var err error
		if heal[n] != nil {
			err = u.ro.Servers.Heal(u.ctx, r, heal[n])
		} else {
			err = u.ro.Servers.Activate(u.ctx, r)
		}
		if err != nil {
			r.Log.Error("activation failed", "release", rel.ID, "err", err)
		} else {
			r.Log.Info("activated", "release", rel.ID, "from", from[n], "duration", u.ro.Now().Sub(t0).Round(time.Millisecond).String())
		}
		u.set(n, plan.StepActivate, err, err == nil)
	})
	return attempted
}

// forEach calls fn(0..n-1) with at most limit calls at a time, and returns
// when all have returned. Once ctx is done, calls not yet started are
// skipped. A panic in a call is raised again in the caller once every
// call has returned, so that the caller's recover sees it.
func forEach(ctx context.Context, n, limit int, fn func(i int)) {
	if limit < 1 {
		limit = 1
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var panicked *Panic
	defer func() {
		wg.Wait()
		if panicked != nil {
			panic(panicked)
		}
	}()
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil {
			<-sem
			return
		}
		wg.Add(1)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					if panicked == nil {
						panicked = &Panic{Value: r, Stack: debug.Stack()}
					}
					mu.Unlock()
				}
				<-sem
				wg.Done()
			}()
			fn(i)
		}()
	}
}

// Panic is a panic of a parallel step, raised again in the goroutine that
// waited for it, with the stack where it happened.
type Panic struct {
	Value any
	Stack []byte
}

func (p *Panic) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// ForEach is forEach for the observation of the fleet: fn(0..n-1), limit
// at a time, none started once ctx is done.
func ForEach(ctx context.Context, n, limit int, fn func(i int)) { forEach(ctx, n, limit, fn) }

// addErr adds an error to a server's result, after the one it has.
func (u *run) addErr(name string, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.entry(name)
	if r.Err == "" {
		r.Err = err.Error()
		return
	}
	r.Err += "; " + err.Error()
}
