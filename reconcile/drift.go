package reconcile

import (
	"context"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/metrics"
	"github.com/gitfleet/gitfleet/notify"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/spec"
)

// DefaultContentInterval is how often the files of active releases are
// checked against the releases, when not configured.
const DefaultContentInterval = 10 * time.Minute

// driftState is what the controller keeps between passes about drift: the
// last content checks and when each drift was first seen. It is a cache:
// lost at a restart, it is rebuilt by the next checks.
type driftState struct {
	mu        sync.Mutex
	content   map[string]map[string]*plan.ContentCheck // server → app
	lastCheck time.Time
	firstSeen map[[4]string]time.Time // environment, app, server, kind
}

// contentStep checks the content of the active releases when the checks
// are due, then puts the last checks into the observation, and pins the
// moved tags of Git artifacts: the observation is complete before the
// plan is made.
func (c *Controller) contentStep(p *pass) error {
	now := c.deps.Now()
	content := c.contentSnapshot()
	if c.contentDue(now) {
		content = c.checkContent(p.stop, p.d, p.obs)
		if !p.preview {
			c.drift.mu.Lock()
			c.drift.content, c.drift.lastCheck = content, now
			c.drift.mu.Unlock()
			c.deps.Metrics.ContentChecked(now)
		}
	}
	p.obs.Content = content
	p.d = c.pinMovedTags(p.stop, p.d, p.obs, !p.preview)
	return nil
}

// contentDue reports whether the content checks are due.
func (c *Controller) contentDue(now time.Time) bool {
	interval := c.cfg.ContentInterval
	if interval < 0 {
		return false
	}
	if interval == 0 {
		interval = DefaultContentInterval
	}
	c.drift.mu.Lock()
	defer c.drift.mu.Unlock()
	return c.drift.lastCheck.IsZero() || now.Sub(c.drift.lastCheck) >= interval
}

// checkContent compares the files of the desired release with the
// release, on every server where it is the active one, with bounded
// concurrency, and returns the checks by server and app.
func (c *Controller) checkContent(ctx context.Context, d *plan.Desired, o *plan.Observed) map[string]map[string]*plan.ContentCheck {
	type work struct {
		srv *spec.Server
		app *spec.App
		key spec.Key
	}
	var todo []work
	for _, r := range d.Spec.Releases {
		rel, ok := d.Releases[r.Key()]
		if !ok {
			continue
		}
		env, app := d.Spec.Environment(r.Environment), d.Spec.App(r.App)
		for _, srv := range spec.Targets(env, app) {
			st := o.Servers[srv.Name]
			if st == nil || st.Err != nil || st.Apps[app.Name] == nil || st.Apps[app.Name].Current != rel.ID {
				continue
			}
			todo = append(todo, work{srv, app, r.Key()})
		}
	}
	results := map[string]map[string]*plan.ContentCheck{}
	var mu sync.Mutex
	now := c.deps.Now()
	rollout.ForEach(ctx, len(todo), c.cfg.ObserveParallelism, func(i int) {
		w := todo[i]
		rel := d.Releases[w.key]
		cctx, cancel := context.WithTimeout(ctx, c.cfg.ObserveTimeout)
		differ, err := c.deps.Servers.Verify(cctx, w.srv, w.app, rel)
		cancel()
		if err != nil {
			c.log.Warn("content check failed", "server", w.srv.Name, "app", w.app.Name, "err", err)
			return
		}
		if len(differ) > 0 {
			c.log.Warn("content drift", "environment", w.key.Environment, "app", w.app.Name, "server", w.srv.Name, "release", rel.ID, "files", plan.FirstFew(differ))
		}
		mu.Lock()
		if results[w.srv.Name] == nil {
			results[w.srv.Name] = map[string]*plan.ContentCheck{}
		}
		results[w.srv.Name][w.app.Name] = &plan.ContentCheck{Release: rel.ID, Differ: differ, At: now}
		mu.Unlock()
	})
	return results
}

// contentSnapshot is the last content checks, for a plan.
func (c *Controller) contentSnapshot() map[string]map[string]*plan.ContentCheck {
	c.drift.mu.Lock()
	defer c.drift.mu.Unlock()
	return c.drift.content
}

// forgetHealed drops the content drift of servers healed by a rollout.
func (c *Controller) forgetHealed(res *rollout.Result) {
	c.drift.mu.Lock()
	defer c.drift.mu.Unlock()
	for _, s := range res.Servers {
		if s.Done && c.drift.content[s.Server] != nil {
			delete(c.drift.content[s.Server], res.Change.App)
		}
	}
}

// recordDrift publishes the drift a plan shows, and pending changes per
// lane, with the time each drift was first seen.
func (c *Controller) recordDrift(p *plan.Plan) {
	now := c.deps.Now()
	var drifted []metrics.DriftServer
	seen := map[[4]string]bool{}
	c.drift.mu.Lock()
	if c.drift.firstSeen == nil {
		c.drift.firstSeen = map[[4]string]time.Time{}
	}
	fresh := map[[3]string][]string{} // environment, app, kind → servers newly drifted
	add := func(env, app, server, kind string) {
		k := [4]string{env, app, server, kind}
		if seen[k] {
			return
		}
		seen[k] = true
		since, ok := c.drift.firstSeen[k]
		if !ok {
			since = now
			c.drift.firstSeen[k] = now
			if kind != plan.DriftEnvironment && kind != plan.DriftDatabase {
				fresh[[3]string{env, app, kind}] = append(fresh[[3]string{env, app, kind}], server)
			}
		}
		drifted = append(drifted, metrics.DriftServer{Environment: env, App: app, Server: server, Kind: kind, Since: since})
	}
	for _, st := range p.Status {
		for _, s := range st.Servers {
			if s.Drift != "" {
				add(st.Environment, st.App, s.Server, s.Drift)
			}
		}
	}
	for _, cd := range p.ConfigDrift {
		add(cd.Environment, "", cd.Server, plan.DriftEnvironment)
	}
	pending := map[[2]string]int{}
	for _, ch := range p.Changes {
		switch ch.Lane {
		case plan.LaneEnvironment:
			for _, s := range ch.Servers {
				add(ch.Environment, "", s.Server, plan.DriftEnvironment)
			}
			pending[[2]string{ch.Environment, string(ch.Lane)}] += len(ch.Servers)
		case plan.LaneDatabase:
			add(ch.Environment, ch.App, ch.To, plan.DriftDatabase)
			pending[[2]string{ch.Environment, string(ch.Lane)}] += max(len(ch.DB), 1)
		default:
			pending[[2]string{ch.Environment, string(ch.Lane)}] += len(ch.Servers)
		}
	}
	for k := range c.drift.firstSeen {
		if !seen[k] {
			delete(c.drift.firstSeen, k)
		}
	}
	c.drift.mu.Unlock()
	var lanes []metrics.PendingLane
	for k, n := range pending {
		lanes = append(lanes, metrics.PendingLane{Environment: k[0], Lane: k[1], N: n})
	}
	c.deps.Metrics.SetDrift(now, drifted, lanes)
	{
		for k, servers := range fresh {
			c.deps.Notifier.Notify(notify.Event{Kind: notify.DriftDetected, Environment: k[0], App: k[1], Drift: k[2], Servers: servers, Revision: p.Revision, Time: now})
		}
	}
}
