// Package retry names errors by what a retry would do, and says when to
// try again.
//
//   - Stalling: a problem that does not heal by itself (a bad spec, auth
//     refused, a bad signature, a non-fast-forward). It is tried again when
//     an input changes (a new commit, a changed configuration or credential
//     file, SIGHUP, a sync request), and otherwise only at a slow cap.
//   - Waiting: a window, a lock, a hold. Tried again at a known time.
//   - Transient: network, timeout, a server down. Tried again with a
//     backoff that grows, is jittered and capped.
//
// An error that says nothing is Transient: trying again is the safe guess.
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Kind is what a retry of an error would do.
type Kind int

// The kinds.
const (
	KindTransient Kind = iota
	KindWaiting
	KindStalling
)

func (k Kind) String() string {
	switch k {
	case KindWaiting:
		return "waiting"
	case KindStalling:
		return "stalling"
	}
	return "transient"
}

// Error is an error with its kind; Until is when a Waiting error may be
// tried again.
type Error struct {
	Kind  Kind
	Until time.Time
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Stalling marks err as not healing by itself; nil stays nil.
func Stalling(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindStalling, Err: err}
}

// Waiting marks err as waiting until the given time; nil stays nil.
func Waiting(err error, until time.Time) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindWaiting, Until: until, Err: err}
}

// Transient marks err as one that a later try may not meet; nil stays
// nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindTransient, Err: err}
}

// KindOf is the kind of the outermost *Error in err's chain, Transient
// when there is none (a timeout or a cancelled call included).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindTransient
}

// IsStalling reports whether err does not heal by itself.
func IsStalling(err error) bool { return err != nil && KindOf(err) == KindStalling }

// Backoff is a growing delay: Base doubled per failure, capped at Cap,
// each delay jittered by ±Jitter (a fraction; 0.2 is ±20%).
type Backoff struct {
	Base, Cap time.Duration
	Jitter    float64
}

// Delay is the wait after the given number of consecutive failures (1
// for the first), jittered.
func (b Backoff) Delay(failures int) time.Duration {
	return b.delay(failures, rand.Float64())
}

func (b Backoff) delay(failures int, r float64) time.Duration {
	d := b.Base
	if d <= 0 {
		d = time.Second
	}
	for i := 1; i < failures && (b.Cap <= 0 || d < b.Cap); i++ {
		d *= 2
	}
	if b.Cap > 0 && d > b.Cap {
		d = b.Cap
	}
	return time.Duration(float64(d) * (1 - b.Jitter + 2*b.Jitter*r))
}

// DefaultStallCap is how long a Stalling error waits when no input
// changes.
const DefaultStallCap = 30 * time.Minute

// Policy says when to try again after an error.
type Policy struct {
	// Backoff paces Transient errors.
	Backoff Backoff
	// StallCap is the wait of a Stalling error when no input changes
	// (default DefaultStallCap).
	StallCap time.Duration
}

// After is how long to wait after err, the failures-th consecutive
// failure, at now.
func (p Policy) After(err error, failures int, now time.Time) time.Duration {
	switch KindOf(err) {
	case KindStalling:
		if p.StallCap <= 0 {
			return DefaultStallCap
		}
		return p.StallCap
	case KindWaiting:
		var e *Error
		errors.As(err, &e)
		if d := e.Until.Sub(now); d > 0 {
			return d
		}
		return 0
	}
	return p.Backoff.Delay(failures)
}

// Sleep waits d or until ctx is done; it reports whether the whole wait
// passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
