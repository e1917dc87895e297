// Package schedule decides when a lane may act: allow windows (a cron
// expression, a duration and a time zone, or a fixed span) and deny
// windows (freezes), deny winning. It is pure: the time comes in as an
// argument, so plans and tests are exact.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Window is a recurring span (Cron + Duration, in TimeZone) or a fixed one
// (From, To).
type Window struct {
	Cron     string        `yaml:"cron,omitempty"`
	Duration time.Duration `yaml:"duration,omitempty"`
	TimeZone string        `yaml:"timezone,omitempty"`
	From     time.Time     `yaml:"from,omitempty"`
	To       time.Time     `yaml:"to,omitempty"`
	// Reason is shown in plans, for freezes mostly.
	Reason string `yaml:"reason,omitempty"`

	sched cron.Schedule
}

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Compile checks the window and prepares it; it must be called before the
// window is used.
func (w *Window) Compile() error {
	fixed := !w.From.IsZero() || !w.To.IsZero()
	switch {
	case w.Cron != "" && fixed:
		return errors.New("set either cron with duration, or from and to, not both")
	case fixed:
		if w.From.IsZero() || w.To.IsZero() {
			return errors.New("a fixed window needs both from and to")
		}
		if !w.To.After(w.From) {
			return fmt.Errorf("to %s is not after from %s", w.To.Format(time.RFC3339), w.From.Format(time.RFC3339))
		}
		if w.Duration != 0 || w.TimeZone != "" {
			return errors.New("duration and timezone go with cron, not with from and to")
		}
		return nil
	case w.Cron == "":
		return errors.New("set cron with duration, or from and to")
	}
	expr := w.Cron
	if w.TimeZone != "" {
		if _, err := time.LoadLocation(w.TimeZone); err != nil {
			return fmt.Errorf("unknown timezone %q", w.TimeZone)
		}
		if strings.Contains(expr, "TZ=") {
			return errors.New("give the time zone in timezone, not in cron")
		}
		expr = "CRON_TZ=" + w.TimeZone + " " + expr
	}
	s, err := parser.Parse(expr)
	if err != nil {
		return fmt.Errorf("cron %q: %v", w.Cron, err)
	}
	if w.Duration < time.Minute || w.Duration > 366*24*time.Hour {
		return fmt.Errorf("duration %s out of range 1m..8784h", w.Duration)
	}
	w.sched = s
	return nil
}

// span returns the occurrence of the window that contains t.
func (w *Window) span(t time.Time) (start, end time.Time, ok bool) {
	if w.sched == nil {
		if !t.Before(w.From) && t.Before(w.To) {
			return w.From, w.To, true
		}
		return time.Time{}, time.Time{}, false
	}
	// The first start after t-duration is the only one that can contain
	// t (starts have minute granularity; the span is [start, start+d)).
	s := w.sched.Next(t.Add(-w.Duration))
	if !s.IsZero() && !s.After(t) && t.Before(s.Add(w.Duration)) {
		return s, s.Add(w.Duration), true
	}
	return time.Time{}, time.Time{}, false
}

// Contains reports whether t is inside the window.
func (w *Window) Contains(t time.Time) bool {
	_, _, ok := w.span(t)
	return ok
}

// nextStart is the first start of the window after t, zero if none.
func (w *Window) nextStart(t time.Time) time.Time {
	if w.sched == nil {
		if w.From.After(t) {
			return w.From
		}
		return time.Time{}
	}
	return w.sched.Next(t)
}

// Policy is a lane's windows. No allow window means any time; a deny
// window wins over an allow window.
type Policy struct {
	Allow []*Window `yaml:"allow,omitempty"`
	Deny  []*Window `yaml:"deny,omitempty"`
}

// Compile compiles every window, naming the first bad one.
func (p *Policy) Compile() error {
	for i, w := range p.Allow {
		if err := w.Compile(); err != nil {
			return fmt.Errorf("allow.%d: %w", i, err)
		}
	}
	for i, w := range p.Deny {
		if err := w.Compile(); err != nil {
			return fmt.Errorf("deny.%d: %w", i, err)
		}
	}
	return nil
}

// Verdict is whether a lane may act at a time, and why not.
type Verdict struct {
	Open bool
	// Why is empty when open: "outside the allowed windows", or the
	// freeze in force.
	Why string
	// Next is when it opens next (zero when open now, or when it never
	// opens within the horizon).
	Next time.Time
}

// Horizon bounds the search for the next opening.
const Horizon = 2 * 366 * 24 * time.Hour

// At says whether the lane may act at t, and if not, why and when next.
func (p *Policy) At(t time.Time) Verdict {
	if p == nil {
		return Verdict{Open: true}
	}
	v := Verdict{Open: p.open(t), Why: p.why(t)}
	if v.Open {
		return v
	}
	v.Next = p.next(t)
	return v
}

func (p *Policy) open(t time.Time) bool {
	for _, w := range p.Deny {
		if w.Contains(t) {
			return false
		}
	}
	if len(p.Allow) == 0 {
		return true
	}
	for _, w := range p.Allow {
		if w.Contains(t) {
			return true
		}
	}
	return false
}

func (p *Policy) why(t time.Time) string {
	for _, w := range p.Deny {
		if _, end, ok := w.span(t); ok {
			if loc, err := time.LoadLocation(w.TimeZone); err == nil && w.TimeZone != "" {
				end = end.In(loc)
			}
			r := "frozen until " + end.Format(time.RFC3339)
			if w.Reason != "" {
				r += " (" + w.Reason + ")"
			}
			return r
		}
	}
	if p.open(t) {
		return ""
	}
	return "outside the allowed windows"
}

// next is the first time at or after t when the lane may act, zero if
// none within the horizon. Openings can only begin where an allow window
// starts or a deny window ends, so those are the candidates.
func (p *Policy) next(t time.Time) time.Time {
	limit := t.Add(Horizon)
	c := t
	for i := 0; i < 100000 && !c.After(limit); i++ {
		if p.open(c) {
			return c
		}
		var best time.Time
		consider := func(x time.Time) {
			if !x.IsZero() && x.After(c) && (best.IsZero() || x.Before(best)) {
				best = x
			}
		}
		for _, w := range p.Deny {
			if _, end, ok := w.span(c); ok {
				consider(end)
			}
		}
		for _, w := range p.Allow {
			consider(w.nextStart(c))
		}
		if best.IsZero() {
			return time.Time{}
		}
		c = best
	}
	return time.Time{}
}
