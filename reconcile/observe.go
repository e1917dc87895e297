package reconcile

import (
	"context"
	"fmt"
	"sync"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/spec"
)

// Observer looks at servers; executor.Executor is the real one.
type Observer interface {
	// Observe inspects the deployTo of every app on one server.
	Observe(ctx context.Context, srv *spec.Server, apps []*spec.App) fleet.ServerState
	// ObserveConfig reads the managed files of environment env on a
	// server, and what the environment lane recorded it applied there.
	ObserveConfig(ctx context.Context, srv *spec.Server, env string, paths []string) (fleet.ConfigState, error)
	// Verify lists the files of a release on a server that differ from
	// it.
	Verify(ctx context.Context, srv *spec.Server, app *spec.App, rel fleet.Release) ([]string, error)
}

// observeStep looks at the servers, the load balancers, the managed files
// and the databases: the one place the pass's observation is made.
func (c *Controller) observeStep(p *pass) error {
	p.obs = c.observe(p.stop, p.d)
	return nil
}

// observe looks at the servers, the load balancers, the managed files and
// the databases of d.
func (c *Controller) observe(ctx context.Context, d *plan.Desired) *plan.Observed {
	obs := &plan.Observed{}
	obs.Servers = c.observeServers(ctx, d.Spec)
	obs.LB = c.observeLBs(ctx, d.Spec)
	obs.Config = c.observeConfig(ctx, d.Spec)
	obs.DB = c.observeDBs(ctx, d)
	for env, o := range obs.LB {
		if o.Err != nil {
			c.log.Warn("load balancer unreachable", "environment", env, "err", o.Err)
		}
	}
	return obs
}

// observeServers looks at every server that a Release targets, at most
// ObserveParallelism at a time, each bounded by ObserveTimeout. A server
// that cannot be looked at is recorded with its error, not dropped.
func (c *Controller) observeServers(ctx context.Context, d *spec.Desired) map[string]*fleet.ServerState {
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
	out := make(map[string]*fleet.ServerState, len(order))
	var mu sync.Mutex
	rollout.ForEach(ctx, len(order), c.cfg.ObserveParallelism, func(i int) {
		w := order[i]
		cctx, cancel := context.WithTimeout(ctx, c.cfg.ObserveTimeout)
		st := c.deps.Servers.Observe(cctx, w.srv, w.apps)
		cancel()
		mu.Lock()
		out[w.srv.Name] = &st
		mu.Unlock()
	})
	return out
}

// observeLBs asks the load balancer of every environment that has one,
// each call bounded by ObserveTimeout.
func (c *Controller) observeLBs(ctx context.Context, d *spec.Desired) map[string]*plan.LBObservation {
	res := map[string]*plan.LBObservation{}
	for _, env := range d.Environments {
		if env.LoadBalancer == nil {
			continue
		}
		o := &plan.LBObservation{}
		lb, err := c.deps.LBs(env)
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, c.cfg.ObserveTimeout)
			o.Servers, err = lb.Servers(cctx)
			cancel()
			if err != nil {
				c.deps.Metrics.LBError(env.Name, "read")
			}
		}
		if err != nil {
			o.Err = fmt.Errorf("load balancer of %s: %w", env.Name, err)
		}
		res[env.Name] = o
	}
	return res
}

// observeConfig reads the managed files of every server of every
// environment that has a config, at most ObserveParallelism servers at a
// time.
func (c *Controller) observeConfig(ctx context.Context, d *spec.Desired) map[string]*plan.ConfigObservation {
	type work struct {
		env   string
		srv   *spec.Server
		paths []string
	}
	var todo []work
	for _, env := range d.Environments {
		if env.Config == nil {
			continue
		}
		for i := range env.Servers {
			files, err := env.RenderConfig(&env.Servers[i])
			if err != nil {
				continue // validation rendered them already
			}
			var paths []string
			for _, f := range files {
				paths = append(paths, f.Path)
			}
			todo = append(todo, work{env.Name, &env.Servers[i], paths})
		}
	}
	res := make(map[string]*plan.ConfigObservation, len(todo))
	var mu sync.Mutex
	rollout.ForEach(ctx, len(todo), c.cfg.ObserveParallelism, func(i int) {
		w := todo[i]
		cctx, cancel := context.WithTimeout(ctx, c.cfg.ObserveTimeout)
		st, err := c.deps.Servers.ObserveConfig(cctx, w.srv, w.env, w.paths)
		cancel()
		mu.Lock()
		res[w.srv.Name] = &plan.ConfigObservation{ConfigState: st, Err: err}
		mu.Unlock()
	})
	return res
}

// observeDBs reads the applied changes of every database a Release names,
// each bounded by ObserveTimeout.
func (c *Controller) observeDBs(ctx context.Context, d *plan.Desired) map[string]*plan.DBObservation {
	res := map[string]*plan.DBObservation{}
	for _, r := range d.Spec.Releases {
		if r.Database == nil || res[r.Database.Target] != nil {
			continue
		}
		o := &plan.DBObservation{}
		if db, err := c.deps.DBs(r.Database.Target); err != nil {
			o.Err = err
		} else {
			cctx, cancel := context.WithTimeout(ctx, c.cfg.ObserveTimeout)
			o.Applied, o.Err = db.Applied(cctx)
			cancel()
		}
		res[r.Database.Target] = o
	}
	return res
}
