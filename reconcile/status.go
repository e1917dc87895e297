package reconcile

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/notify"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/rollout"
	"github.com/gitfleet/gitfleet/store"
)

// notifyRollout tells of a rollout starting (res nil) or ending.
func (c *Controller) notifyRollout(ch *plan.Change, res *rollout.Result) {
	e := notify.Event{Environment: ch.Environment, App: ch.App, Lane: string(ch.Lane), Release: ch.To, Strategy: string(ch.Strategy),
		Revision: ch.Spec.Revision, Author: ch.Spec.Author, Time: c.deps.Now()}
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
	c.deps.Notifier.Notify(e)
}

// Status is what `gitfleet status` shows: the desired state in force,
// each release's standing as last observed, and the rollouts under way.
type Status struct {
	Revision    string            `json:"revision"`
	Origin      string            `json:"origin"`
	Author      string            `json:"author,omitempty"`
	ObservedAt  time.Time         `json:"observedAt,omitzero"`
	Releases    []*plan.AppStatus `json:"releases"`
	Pending     []*plan.Change    `json:"pending"`
	InProgress  []*InProgress     `json:"inProgress"`
	Unavailable string            `json:"unavailable,omitempty"` // why there is nothing yet
}

// InProgress is a rollout under way.
type InProgress struct {
	Environment string    `json:"environment"`
	App         string    `json:"app,omitempty"`
	Lane        plan.Lane `json:"lane"`
	Strategy    string    `json:"strategy,omitempty"`
	To          string    `json:"to"`
	Started     time.Time `json:"started"`
}

type statusState struct {
	mu         sync.Mutex
	plan       *plan.Plan // published: never changed
	inProgress map[*plan.Change]*InProgress
}

// setPlan publishes a plan: from now on it is read, never written.
func (c *Controller) setPlan(p *plan.Plan) {
	c.status.mu.Lock()
	c.status.plan = p
	c.status.mu.Unlock()
}

func (c *Controller) started(ch *plan.Change, at time.Time) {
	c.status.mu.Lock()
	defer c.status.mu.Unlock()
	if c.status.inProgress == nil {
		c.status.inProgress = map[*plan.Change]*InProgress{}
	}
	c.status.inProgress[ch] = &InProgress{Environment: ch.Environment, App: ch.App, Lane: ch.Lane, Strategy: string(ch.Strategy), To: ch.To, Started: at}
}

func (c *Controller) finished(ch *plan.Change) {
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
	st := Status{Releases: []*plan.AppStatus{}, Pending: []*plan.Change{}, InProgress: []*InProgress{}}
	if d == nil || c.status.plan == nil {
		st.Unavailable = "no desired state accepted yet, or no pass finished yet"
		return st
	}
	st.Revision, st.Origin, st.Author = d.Revision, d.Origin, d.Author
	st.ObservedAt = c.status.plan.Time
	st.Releases = c.status.plan.Status
	st.Pending = c.status.plan.Changes
	for _, ip := range c.status.inProgress {
		cp := *ip
		st.InProgress = append(st.InProgress, &cp)
	}
	sort.Slice(st.InProgress, func(i, j int) bool { return st.InProgress[i].Started.Before(st.InProgress[j].Started) })
	return st
}

// record writes a change's result to the history.
func (c *Controller) record(ch *plan.Change, res *rollout.Result) {
	if res.Waiting {
		return
	}
	e := store.Event{Environment: ch.Environment, App: ch.App, Revision: ch.Spec.Revision, Author: ch.Spec.Author,
		Strategy: string(ch.Strategy), Start: res.Started, End: res.Finished, Result: res.Outcome()}
	switch ch.Lane {
	case plan.LaneEnvironment:
		e.Kind, e.What, e.Strategy = "environment", "config "+ch.To, ""
	case plan.LaneDatabase:
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
	if _, err := c.deps.History.Record(e); err != nil {
		c.log.Warn("cannot record the history", "err", err)
	}
}
