package reconcile

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/notify"
	"github.com/gitfleet/gitfleet/store"
)

// Notifier is told what happens; notify.Notifier is the real one.
type Notifier interface {
	Notify(e notify.Event)
}

// notifyRollout tells of a rollout starting (res nil) or ending.
func (c *Controller) notifyRollout(d *Desired, ch *Change, res *Result) {
	if c.Notifier == nil {
		return
	}
	e := notify.Event{Environment: ch.Environment, App: ch.App, Lane: string(ch.Lane), Release: ch.To, Strategy: string(ch.Strategy),
		Revision: d.Revision, Author: d.Author, Time: c.Now()}
	for _, s := range ch.Servers {
		e.Servers = append(e.Servers, s.Server)
	}
	switch {
	case res == nil:
		e.Kind = notify.RolloutStarted
	case res.Outcome() == "success":
		e.Kind = notify.RolloutSucceeded
	case res.Outcome() == "failure":
		e.Kind = notify.RolloutFailed
		for _, s := range res.Servers {
			if s.Err != "" {
				e.Failed = append(e.Failed, s.Server)
				if e.Error == "" {
					e.Error = s.Server + ": " + s.Err
				}
			}
		}
	default:
		return // stopped by a shutdown, or only staged
	}
	c.Notifier.Notify(e)
}

// History records what the controller did; store.Store is the real one.
type History interface {
	Record(e store.Event) (uint64, error)
}

// Status is what `gitfleet status` shows: the desired state in force,
// each release's standing as last observed, and the rollouts under way.
type Status struct {
	Revision    string        `json:"revision"`
	Origin      string        `json:"origin"`
	Author      string        `json:"author,omitempty"`
	ObservedAt  time.Time     `json:"observedAt,omitzero"`
	Releases    []*AppStatus  `json:"releases"`
	Pending     []*Change     `json:"pending"`
	InProgress  []*InProgress `json:"inProgress"`
	Unavailable string        `json:"unavailable,omitempty"` // why there is nothing yet
}

// InProgress is a rollout under way.
type InProgress struct {
	Environment string    `json:"environment"`
	App         string    `json:"app,omitempty"`
	Lane        Lane      `json:"lane"`
	Strategy    string    `json:"strategy,omitempty"`
	To          string    `json:"to"`
	Started     time.Time `json:"started"`
}

type statusState struct {
	mu         sync.Mutex
	plan       *Plan
	inProgress map[*Change]*InProgress
}

func (c *Controller) setPlan(p *Plan) {
	c.status.mu.Lock()
	c.status.plan = p
	c.status.mu.Unlock()
}

func (c *Controller) started(ch *Change, at time.Time) {
	c.status.mu.Lock()
	defer c.status.mu.Unlock()
	if c.status.inProgress == nil {
		c.status.inProgress = map[*Change]*InProgress{}
	}
	c.status.inProgress[ch] = &InProgress{Environment: ch.Environment, App: ch.App, Lane: ch.Lane, Strategy: string(ch.Strategy), To: ch.To, Started: at}
}

func (c *Controller) finished(ch *Change) {
	c.status.mu.Lock()
	delete(c.status.inProgress, ch)
	c.status.mu.Unlock()
}

// Status returns the controller's view for people: the last plan's
// standing and the rollouts under way.
func (c *Controller) Status() Status {
	d := c.Desired()
	c.status.mu.Lock()
	defer c.status.mu.Unlock()
	st := Status{Releases: []*AppStatus{}, Pending: []*Change{}, InProgress: []*InProgress{}}
	if d == nil || c.status.plan == nil {
		st.Unavailable = "no desired state accepted yet, or no pass finished yet"
		return st
	}
	st.Revision, st.Origin, st.Author = d.Revision, d.Origin, d.Author
	st.ObservedAt = c.status.plan.Time
	st.Releases = c.status.plan.Status
	st.Pending = c.status.plan.Changes
	for _, ip := range c.status.inProgress {
		st.InProgress = append(st.InProgress, ip)
	}
	sort.Slice(st.InProgress, func(i, j int) bool { return st.InProgress[i].Started.Before(st.InProgress[j].Started) })
	return st
}

// record writes a change's result to the history.
func (c *Controller) record(d *Desired, ch *Change, res *Result) {
	if c.History == nil || res.Waiting {
		return
	}
	e := store.Event{Environment: ch.Environment, App: ch.App, Revision: d.Revision, Author: d.Author,
		Strategy: string(ch.Strategy), Start: res.Started, End: res.Finished, Result: res.Outcome()}
	switch ch.Lane {
	case LaneEnvironment:
		e.Kind, e.What, e.Strategy = "environment", "config "+ch.To, ""
	case LaneDatabase:
		var ids []string
		for _, s := range ch.DB {
			ids = append(ids, s.ID)
		}
		e.Kind, e.What, e.Strategy = "database", fmt.Sprintf("%s: %s", ch.To, strings.Join(ids, ", ")), ""
		if ch.Blocked != "" {
			e.Result, e.Error = "blocked", ch.Blocked
		}
	default:
		e.Kind, e.What = "rollout", ch.To
	}
	for _, s := range res.Servers {
		e.Servers = append(e.Servers, s.Server)
		if s.Err != "" {
			e.Failed = append(e.Failed, s.Server)
			if e.Error == "" {
				e.Error = s.Server + ": " + s.Err
			}
		}
	}
	if _, err := c.History.Record(e); err != nil {
		c.Log.Warn("cannot record the history", "err", err)
	}
}
