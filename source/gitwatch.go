package source

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/gitfleet/gitfleet/internal/retry"
)

// Trigger asks for a poll now, as a webhook does. Triggers that arrive
// while one is pending coalesce into one poll.
func (g *Git) Trigger() {
	g.init()
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

func (g *Git) init() { g.once.Do(func() { g.wake = make(chan struct{}, 1) }) }

// Watch polls every interval (jittered) and on every Trigger, until ctx
// ends, and reports new revisions and failures. After a failure that may
// heal (a remote down, a timeout) it retries with exponential backoff and
// jitter, up to the interval. A failure that does not heal by itself is
// Stalling (package retry):
//
//   - refused credentials (nothing can be listed): tried again only when
//     an input changes (Inputs: gitfleet.yaml, a credential file; the
//     credentials are then read again with Reauth), on Trigger (a webhook,
//     a sync request, SIGHUP), or after StallCap;
//   - a bad signature, a rewritten history or a moved tag refused: the
//     remote is still listed every interval, and the commit is taken up
//     again only when the remote names another one; meanwhile the failure
//     is not reported again.
func (g *Git) Watch(ctx context.Context, report func(Update)) error {
	g.init()
	last := ""
	failures := 0
	for {
		s, err := g.Snapshot(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		var inputs string // what a stall waits to change
		switch {
		case err == nil:
			failures = 0
			wait = jitter(g.Interval)
			if s.Revision != last {
				last = s.Revision
				report(Update{Snapshot: s})
			}
		case errors.Is(err, errStillStalled):
			// The remote names the commit that was refused: nothing new.
			wait = jitter(g.Interval)
		case RetryKind(err) == retry.KindStalling:
			failures++
			last = ""
			report(Update{Err: err})
			wait = jitter(g.Interval)
			if classify(err) == ReasonAuth {
				wait, inputs = g.stallCap(), g.inputs()
				g.log().Warn("credentials refused: polling again when gitfleet.yaml or a credential file changes, on a webhook, a sync request or SIGHUP, or in "+wait.Round(time.Minute).String(), "origin", g.Origin())
			}
		default:
			failures++
			wait = backoff(failures, g.Interval)
			// After a failure the same revision is reported again, so
			// that the desired state is known good again.
			last = ""
			report(Update{Err: err})
		}
		if !g.wait(ctx, wait, inputs) {
			return nil
		}
	}
}

// wait waits d, or until a Trigger, or, when inputs is not empty, until
// the inputs no longer match it. It reports false when ctx ended.
func (g *Git) wait(ctx context.Context, d time.Duration, inputs string) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	var check <-chan time.Time
	if inputs != "" {
		every := g.InputCheck
		if every <= 0 {
			every = DefaultInputCheck
		}
		tick := time.NewTicker(every)
		defer tick.Stop()
		check = tick.C
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-g.wake:
			return true
		case <-t.C:
			return true
		case <-check:
			if g.inputs() != inputs {
				g.log().Info("an input of the source changed: polling again", "origin", g.Origin())
				return true
			}
		}
	}
}

// DefaultInputCheck is how often a watch stalled on refused credentials
// looks for a changed input.
const DefaultInputCheck = 5 * time.Second

func (g *Git) stallCap() time.Duration {
	if g.StallCap > 0 {
		return g.StallCap
	}
	return retry.DefaultStallCap
}

// inputs names the state of what the source depends on beyond the remote;
// "-" when nothing is watched.
func (g *Git) inputs() string {
	if g.Inputs == nil {
		return "-"
	}
	return g.Inputs()
}

// errStillStalled marks a poll that met the commit a Stalling failure was
// met at before: the same failure, not worth a report.
var errStillStalled = errors.New("the remote still names the refused commit")

// stalledError is a Stalling failure met again at the same commit.
type stalledError struct{ err error }

func (e *stalledError) Error() string        { return e.err.Error() }
func (e *stalledError) Unwrap() []error      { return []error{e.err, errStillStalled} }
func (e *stalledError) Is(target error) bool { return target == errStillStalled }

// backoff is 2s doubled per failure, capped at max, with ±20% jitter.
func backoff(failures int, max time.Duration) time.Duration {
	d := 2 * time.Second
	for i := 1; i < failures && d < max; i++ {
		d *= 2
	}
	if max > 0 && d > max {
		d = max
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}
