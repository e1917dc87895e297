package rollout

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/plan"
)

// Rollback carries out a switch back planned by plan.PlanRollback: the
// idle group is health-checked on the release it holds and put into the
// load balancer, then the live group is drained and put in maintenance,
// and the release is held on it at this revision, so that the daemon does
// not switch again until a new commit (or `gitfleet sync --retry`). When
// the idle group cannot take the traffic, it goes out again and nothing
// is switched; a failure to take it out again is logged and returned.
func (ro *Rollout) Rollback(ctx context.Context, rb *plan.Rollback) error {
	res := &Result{Change: rb.Change, Started: ro.Now()}
	u, err := ro.newRun(ctx, ctx, rb.Change, res)
	if err != nil {
		return err
	}
	if u.lb == nil {
		return fmt.Errorf("%s: the environment has no load balancer", rb.Change.Key())
	}
	timeout := u.drainTimeout()
	u.log.Info("rolling back", "from", rb.From, "to", rb.To, "release", rb.Holds)
	var mu sync.Mutex
	var firstErr error
	forEach(ctx, len(rb.Back), len(rb.Back), func(i int) {
		if err := u.restore(rb.Back[i], rb.Holds, timeout); err != nil {
			mu.Lock()
			firstErr = fmt.Errorf("%s: %w", rb.Back[i], err)
			mu.Unlock()
		}
	})
	if firstErr != nil {
		err := fmt.Errorf("group %s cannot take the traffic back; nothing switched: %w", rb.To, firstErr)
		for _, n := range rb.Back {
			if terr := u.takeOut(n, time.Millisecond); terr != nil {
				u.log.Error("cannot take the group out again after a failed rollback: both groups may take traffic", "server", n, "err", terr)
				err = fmt.Errorf("%w; and %s could not be taken out again: %w", err, n, terr)
			}
		}
		return err
	}
	forEach(ctx, len(rb.Live), len(rb.Live), func(i int) {
		n := rb.Live[i]
		if err := u.takeOut(n, timeout); err != nil {
			u.log.Error("cannot take the rolled-back group out", "server", n, "err", err)
		}
		if err := ro.Servers.MarkRolloutFailed(ctx, u.request(n, rb.Change.Spec.Artifact), rb.Reason); err != nil {
			u.log.Error("cannot hold the release", "server", n, "err", err)
			mu.Lock()
			firstErr = err
			mu.Unlock()
		}
	})
	if firstErr != nil {
		return fmt.Errorf("switched back to %s, but the release could not be held everywhere (the daemon may switch again): %w", rb.To, firstErr)
	}
	u.log.Info("rolled back", "live", rb.To, "release", rb.Holds)
	return nil
}
