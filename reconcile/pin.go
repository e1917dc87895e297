package reconcile

import (
	"context"
	"fmt"

	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/resolve"
	"github.com/gitfleet/gitfleet/source"
)

// pinMovedTags pins the moved tags of Git artifacts for a pass (see
// resolve.PinMovedTags), and, when report is set, logs and counts each
// move once per run of the daemon.
func (c *Controller) pinMovedTags(ctx context.Context, d *plan.Desired, o *plan.Observed, report bool) *plan.Desired {
	fetch, _ := c.deps.Artifacts.(resolve.CommitFetcher)
	out, pins := resolve.PinMovedTags(ctx, d, o, fetch)
	if !report {
		return out
	}
	for _, p := range pins {
		// Counted once per move; logged once per move, and again if a
		// pin that could not be read can be read later (or the other way
		// round).
		move := p.App + "\x00" + p.Version + "\x00" + p.Moved
		count, log := c.firstTime("count\x00"+move), c.firstTime(fmt.Sprintf("log\x00%s\x00%t", move, p.Err == nil))
		if count {
			c.deps.Metrics.ArtifactTagMoved()
		}
		if !log {
			continue
		}
		attrs := []any{"app", p.App, "version", p.Version, "url", source.RedactURL(p.URL), "pinned", p.Pinned, "moved", p.Moved}
		if p.Err != nil {
			c.log.Error("artifact tag moved after its first activation, and its first commit cannot be read: servers not yet on it are held", append(attrs, "err", p.Err)...)
			continue
		}
		c.log.Warn("artifact tag moved after its first activation: pinned to the first commit", attrs...)
	}
	return out
}

// firstTime reports whether key is seen for the first time in this run.
func (c *Controller) firstTime(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tagMoves[key] {
		return false
	}
	if c.tagMoves == nil {
		c.tagMoves = map[string]bool{}
	}
	c.tagMoves[key] = true
	return true
}
