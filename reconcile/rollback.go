package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/spec"
)

// Rollback switches a parallel release back to the idle group while that
// group still holds its release: the idle group is health-checked and put
// into the load balancer, then the live group is drained and put in
// maintenance, and the release is held at this revision on it, so that the
// daemon does not switch again until a new commit (or `gitfleet sync
// --retry`).
func Rollback(ctx context.Context, x Executor, lbs LBFunc, log *slog.Logger, d *Desired, obs *Observed, envName, appName string, now time.Time) error {
	key := spec.Key{Environment: envName, App: appName}
	var r *spec.Release
	for _, rr := range d.Spec.Releases {
		if rr.Key() == key {
			r = rr
		}
	}
	if r == nil {
		return fmt.Errorf("no Release of app %q in environment %q", appName, envName)
	}
	if r.Strategy != spec.Parallel {
		return fmt.Errorf("%s is released with strategy %s: rollback switches a parallel (blue/green) release back; for %s, pin the previous version in the desired state", key, r.Strategy, r.Strategy)
	}
	env, app := d.Spec.Environment(envName), d.Spec.App(appName)
	rel, ok := d.Releases[key]
	if !ok {
		return fmt.Errorf("%s: release not resolved", key)
	}
	lbo := obs.LB[envName]
	if lbo == nil || lbo.Err != nil {
		return fmt.Errorf("%s: cannot read the load balancer: %v", key, lbo.Err)
	}
	g := groups(spec.Targets(env, app))
	live := liveGroup(lbo, g, func(string) bool { return false })
	if live == "" {
		return fmt.Errorf("%s: no group takes traffic in the load balancer: nothing to switch back from", key)
	}
	back := otherGroup(live)
	holds := ""
	for _, s := range g[back] {
		st := obs.Servers[s.Name]
		if st == nil {
			return fmt.Errorf("%s: server %s of group %s was not observed", key, s.Name, back)
		}
		if st.Err != nil {
			return fmt.Errorf("%s: server %s of group %s is unreachable: %v", key, s.Name, back, st.Err)
		}
		as := st.Apps[app.Name]
		switch {
		case as != nil && as.Current == rel.ID && as.Marker != nil && as.Marker.Failed != nil &&
			as.Marker.Failed.Release == rel.ID && as.Marker.Failed.Revision == d.Revision:
			return fmt.Errorf("%s: group %s holds %s, which failed or was rolled back at this revision: already rolled back; to go forward again, use gitfleet sync --retry %s %s", key, back, rel.ID, envName, appName)
		case as == nil || as.Current == "":
			return fmt.Errorf("%s: server %s of group %s holds no release to switch back to", key, s.Name, back)
		case as.Marker != nil && as.Marker.Pending != nil:
			return fmt.Errorf("%s: server %s of group %s is in the middle of an activation", key, s.Name, back)
		case holds != "" && as.Current != holds:
			return fmt.Errorf("%s: group %s is not on one release (%s, %s)", key, back, holds, as.Current)
		}
		holds = as.Current
	}
	ch := &Change{Environment: envName, App: appName, Strategy: r.Strategy, Version: rel.Version, To: rel.ID}
	ro := &Rollout{Exec: x, Log: log, LBs: lbs, Now: func() time.Time { return now }}
	u, err := ro.newRun(ctx, ctx, d, ch, &Result{Change: ch})
	if err != nil {
		return err
	}
	log = log.With("environment", envName, "app", appName)
	log.Info("rolling back", "from", live, "to", back, "release", holds)
	var mu sync.Mutex
	var firstErr error
	forEach(ctx, len(g[back]), len(g[back]), func(i int) {
		if err := u.restore(g[back][i].Name, holds, r.Parallel.DrainTimeout); err != nil {
			mu.Lock()
			firstErr = fmt.Errorf("%s: %w", g[back][i].Name, err)
			mu.Unlock()
		}
	})
	if firstErr != nil {
		for _, s := range g[back] {
			u.takeOut(s.Name, time.Millisecond)
		}
		return fmt.Errorf("group %s cannot take the traffic back; nothing switched: %w", back, firstErr)
	}
	reason := fmt.Sprintf("rolled back to group %s (%s) with gitfleet rollback at %s", back, holds, now.UTC().Format(time.RFC3339))
	forEach(ctx, len(g[live]), len(g[live]), func(i int) {
		n := g[live][i].Name
		if err := u.takeOut(n, r.Parallel.DrainTimeout); err != nil {
			log.Error("cannot take the rolled-back group out", "server", n, "err", err)
		}
		if err := x.MarkRolloutFailed(ctx, u.request(n, rel), reason); err != nil {
			log.Error("cannot hold the release", "server", n, "err", err)
			mu.Lock()
			firstErr = err
			mu.Unlock()
		}
	})
	if firstErr != nil {
		return fmt.Errorf("switched back to %s, but the release could not be held everywhere (the daemon may switch again): %w", back, firstErr)
	}
	log.Info("rolled back", "live", back, "release", holds)
	return nil
}
