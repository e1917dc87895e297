package reconcile

import (
	"context"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/fleet"

	"github.com/gitfleet/gitfleet/spec"
)

// Executor carries out server steps. executor.Executor is the real one.
type Executor interface {
	Observe(ctx context.Context, srv *spec.Server, apps []*spec.App) fleet.ServerState
	Stage(ctx context.Context, r fleet.Request) error
	Activate(ctx context.Context, r fleet.Request) error
	// Check health-checks the release a server is on, before it goes back
	// into its load balancer.
	Check(ctx context.Context, r fleet.Request) error
	// RollBack returns a server to the release to and holds r.Release.
	RollBack(ctx context.Context, r fleet.Request, to, reason string) error
	// MarkRolloutFailed holds r.Release at this revision on the server.
	MarkRolloutFailed(ctx context.Context, r fleet.Request, reason string) error
	// ObserveConfig reads managed files; ApplyConfig writes them and runs
	// the environment's onChange (the environment lane).
	ObserveConfig(ctx context.Context, srv *spec.Server, paths []string) (map[string]fleet.FileState, error)
	ApplyConfig(ctx context.Context, r fleet.ConfigRequest) error
	// Verify lists the files of a release on a server that differ from
	// it; Heal puts them back and runs the activation again.
	Verify(ctx context.Context, srv *spec.Server, app *spec.App, rel fleet.Release) ([]string, error)
	Heal(ctx context.Context, r fleet.Request, paths []string) error
	// RunCommand runs a command in / on a server (database lane commands).
	RunCommand(ctx context.Context, srv *spec.Server, env []string, command string) ([]byte, error)
}

// Observe looks at every server that a Release targets, at most parallelism
// at a time, each bounded by timeout. A server that cannot be looked at is
// recorded with its error, not dropped.
func Observe(ctx context.Context, x Executor, d *spec.Desired, parallelism int, timeout time.Duration) *Observed {
	type work struct {
		srv  *spec.Server
		apps []*spec.App
	}
	byServer := map[string]*work{}
	var order []*work
	for _, r := range d.Releases {
		env, app := d.Environment(r.Environment), d.App(r.App)
		for _, srv := range spec.Targets(env, app) {
			w := byServer[srv.Name]
			if w == nil {
				w = &work{srv: srv}
				byServer[srv.Name] = w
				order = append(order, w)
			}
			w.apps = append(w.apps, app)
		}
	}
	o := &Observed{Servers: make(map[string]*fleet.ServerState, len(order))}
	var mu sync.Mutex
	forEach(ctx, len(order), parallelism, func(i int) {
		w := order[i]
		cctx, cancel := context.WithTimeout(ctx, timeout)
		st := x.Observe(cctx, w.srv, w.apps)
		cancel()
		mu.Lock()
		o.Servers[w.srv.Name] = &st
		mu.Unlock()
	})
	return o
}

// forEach calls fn(0..n-1) with at most limit calls at a time, and returns
// when all have returned. Once ctx is done, calls not yet started are
// skipped.
func forEach(ctx context.Context, n, limit int, fn func(i int)) {
	if limit < 1 {
		limit = 1
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}
