package reconcile

import (
	"fmt"
	"strings"
	"time"

	"github.com/gitfleet/gitfleet/fleet"

	"github.com/gitfleet/gitfleet/spec"
)

// Lane is the kind of a change. Each lane is planned and scheduled on its
// own: environment and database changes go ahead of the files that need
// them. Only the files lane is carried out so far.
type Lane string

// The lanes.
const (
	LaneFiles       Lane = "files"
	LaneDatabase    Lane = "database"
	LaneEnvironment Lane = "environment"
)

// SyncState is how a server stands against the desired state of one app.
type SyncState string

// The sync states.
const (
	InSync SyncState = "in_sync"
	// Drifted is a server that left the desired state by itself: another
	// release switched in outside gitfleet, files of the release changed,
	// out of its load balancer.
	Drifted     SyncState = "drifted"
	OutOfSync   SyncState = "out_of_sync"
	Unreachable SyncState = "unreachable"
)

// SyncStates lists every state, for metrics.
var SyncStates = []SyncState{InSync, OutOfSync, Drifted, Unreachable}

// The kinds of drift.
const (
	DriftVersion      = "version"
	DriftContent      = "content"
	DriftLoadBalancer = "loadbalancer"
	DriftDatabase     = "database"
	DriftEnvironment  = "environment"
)

// Plan is everything a pass would do, and how the fleet stands.
type Plan struct {
	Revision string    `json:"revision"`
	Origin   string    `json:"origin"`
	Time     time.Time `json:"time"`
	Changes  []*Change `json:"changes"`
	// Status is every Release's standing, server by server.
	Status []*AppStatus `json:"status"`
	// ConfigDrift lists managed files changed outside gitfleet where the
	// environment only reports drift.
	ConfigDrift []*ConfigDrift `json:"configDrift,omitempty"`
	// Unmanaged are the servers this desired state no longer manages
	// (see NoteUnmanaged).
	Unmanaged *Unmanaged `json:"unmanaged,omitempty"`
}

// Change is one difference to remove: in one lane, one app of one
// environment, on a set of servers.
type Change struct {
	Lane        Lane            `json:"lane"`
	Environment string          `json:"environment"`
	App         string          `json:"app"`
	Strategy    spec.Strategy   `json:"strategy"`
	Version     string          `json:"version"`
	To          string          `json:"to"` // release ID
	Servers     []*ServerChange `json:"servers"`
	Reason      string          `json:"reason"`
	// Batches are the rolling strategy's batches of servers, in order.
	Batches [][]string `json:"batches,omitempty"`
	// Switch is the parallel strategy's switch of the load balancer.
	Switch *Switch `json:"switch,omitempty"`
	// Wait is set when the change's lane is outside its windows in the
	// environment: the release is staged, nothing is activated.
	Wait *Wait `json:"wait,omitempty"`
	// DB are the pending changes of the database lane, in order.
	DB []DBStep `json:"database,omitempty"`
	// Blocked says why a database change cannot go ahead at all.
	Blocked string `json:"blocked,omitempty"`
	// Warning is shown with the change (irreversible database changes).
	Warning string `json:"warning,omitempty"`
}

// Wait says why a change waits and when its window opens next.
type Wait struct {
	Why  string    `json:"why"`
	Next time.Time `json:"next,omitzero"` // zero: no opening within the horizon
	// Order is set when the change waits for another lane of its
	// environment, not for a window.
	Order bool `json:"order,omitempty"`
}

// NextOpening is the earliest time a waiting change of the plan may go
// ahead, zero if none waits.
func (p *Plan) NextOpening() time.Time {
	var next time.Time
	if p == nil {
		return next
	}
	for _, c := range p.Changes {
		if c.Wait != nil && !c.Wait.Next.IsZero() && (next.IsZero() || c.Wait.Next.Before(next)) {
			next = c.Wait.Next
		}
	}
	return next
}

// Switch moves the traffic of a parallel release from one group to the
// other.
type Switch struct {
	From    string   `json:"from,omitempty"` // "blue", "green", or "" when neither takes traffic
	To      string   `json:"to"`
	Servers []string `json:"servers"` // the group that goes live
	Old     []string `json:"old"`     // the group that goes idle
}

// Key is the change's release key.
func (c *Change) Key() spec.Key { return spec.Key{Environment: c.Environment, App: c.App} }

// ServerChange is what a change does on one server.
type ServerChange struct {
	Server   string `json:"server"`
	From     string `json:"from,omitempty"` // release ID, or what current points to
	Stage    bool   `json:"stage"`          // the release must be distributed first
	Activate bool   `json:"activate"`
	// Restore puts a server on a whole release back into the load
	// balancer after a health check; TakeOut drains it and puts it in
	// maintenance (an idle blue/green group).
	Restore bool `json:"restore,omitempty"`
	TakeOut bool `json:"takeOut,omitempty"`
	// Files are the managed files to write (environment lane), or the
	// drifted files of the release to put back (Heal).
	Files []string `json:"files,omitempty"`
	// Heal puts back the drifted files of the release the server is on,
	// then runs its activation again.
	Heal   bool   `json:"heal,omitempty"`
	Reason string `json:"reason"`
	// LastFailure is this server's last failed attempt at this release,
	// when one is known (see Failures).
	LastFailure *Failure `json:"lastFailure,omitempty"`
}

// AppStatus is where the servers of one Release stand.
type AppStatus struct {
	Environment string            `json:"environment"`
	App         string            `json:"app"`
	Version     string            `json:"version"`
	Release     string            `json:"release"`
	Counts      map[SyncState]int `json:"counts"`
	Servers     []*ServerStatus   `json:"servers"`
	// Note says why the release's change is held as a whole (a rollout
	// that failed at this revision, an unreadable load balancer).
	Note string `json:"note,omitempty"`
}

// ServerStatus is one server's standing for one app.
type ServerStatus struct {
	Server  string    `json:"server"`
	State   SyncState `json:"state"`
	Current string    `json:"current,omitempty"`
	// Held is set when the desired release failed to activate here at this
	// revision: it is not retried until the revision changes.
	Held   bool   `json:"held,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Drift is the kind of drift of a drifted server.
	Drift string `json:"drift,omitempty"`
}

// Pending counts the server steps of the plan's changes.
func (p *Plan) Pending() int {
	n := 0
	for _, c := range p.Changes {
		n += len(c.Servers)
	}
	return n
}

// Observed is what the fleet held when it was looked at, by server name.
type Observed struct {
	Servers map[string]*fleet.ServerState
	// LB is what the load balancers said, by environment.
	LB map[string]*LBObservation
	// Config is what the managed files of the environment lane hold, by
	// server.
	Config map[string]*ConfigObservation
	// DB is what the databases of the database lane have applied, by
	// target name.
	DB map[string]*DBObservation
	// Content is the last content check of the active releases, by server
	// and app.
	Content map[string]map[string]*ContentCheck
	// ConfigApplied is the digest of the environment config the daemon
	// last applied, by environment (what makes a difference drift).
	ConfigApplied map[string]string
}

// ContentCheck is the result of comparing a release's files on a server
// with the release.
type ContentCheck struct {
	Release string    `json:"release"`
	Differ  []string  `json:"differ,omitempty"`
	At      time.Time `json:"at"`
}

// MakePlan compares the desired state with the observed fleet. It is pure:
// the same inputs give the same plan.
func MakePlan(d *Desired, o *Observed, now time.Time) *Plan {
	p := &Plan{Revision: d.Revision, Origin: d.Origin, Time: now}
	// The environment lane goes first: the files of a release wait for
	// the environment they need.
	envPending := map[string]*Change{}
	envChanges, configDrift := planEnvironmentLane(d, o)
	p.ConfigDrift = configDrift
	for _, ch := range envChanges {
		env := d.Spec.Environment(ch.Environment)
		if v := env.Windows.For(string(ch.Lane)).At(now); !v.Open {
			ch.Wait = &Wait{Why: v.Why, Next: v.Next}
		}
		envPending[ch.Environment] = ch
		p.Changes = append(p.Changes, ch)
	}
	var fileChanges []*Change
	for _, r := range d.Spec.Releases {
		env, app := d.Spec.Environment(r.Environment), d.Spec.App(r.App)
		rel, ok := d.Releases[r.Key()]
		if !ok {
			continue // artifact not resolved: nothing to compare with
		}
		targets := spec.Targets(env, app)
		st := &AppStatus{
			Environment: env.Name, App: app.Name, Version: rel.Version, Release: rel.ID,
			Counts:  make(map[SyncState]int, len(SyncStates)),
			Servers: make([]*ServerStatus, 0, len(targets)),
		}
		var ch *Change
		for _, srv := range targets {
			ss, sc := planServer(d, o, app, rel, srv)
			sc = pinServer(d, r.Key(), ss, sc)
			st.Servers = append(st.Servers, ss)
			st.Counts[ss.State]++
			if sc == nil {
				continue
			}
			if ch == nil {
				ch = &Change{
					Lane: LaneFiles, Environment: env.Name, App: app.Name,
					Strategy: r.Strategy, Version: rel.Version, To: rel.ID,
				}
			}
			ch.Servers = append(ch.Servers, sc)
		}
		if ch != nil {
			ch.Reason = summarize(ch, len(targets))
		}
		switch r.Strategy {
		case spec.Rolling:
			ch = planRolling(d, o, r, env, app, rel, targets, st, ch)
		case spec.Parallel:
			ch = planParallel(d, o, r, env, app, rel, targets, st, ch)
		}
		recount(st)
		p.Status = append(p.Status, st)
		if ch != nil {
			if v := env.Windows.For(string(ch.Lane)).At(now); !v.Open {
				ch.Wait = &Wait{Why: v.Why, Next: v.Next}
			} else if ec := envPending[env.Name]; ec != nil {
				ch.Wait = &Wait{Why: fmt.Sprintf("the environment lane of %s goes first (%d servers)", env.Name, len(ec.Servers)), Order: true}
				if ec.Wait != nil {
					ch.Wait.Next = ec.Wait.Next
				}
			}
			fileChanges = append(fileChanges, ch)
		}
	}
	// The database lane, ahead of the files that need it.
	filesPending := map[spec.Key]bool{}
	for _, ch := range fileChanges {
		filesPending[ch.Key()] = true
	}
	// Files wait until the database lane of their environment converged.
	dbPending := map[string]*Change{}
	for _, ch := range planDatabaseLane(d, o, filesPending) {
		if v := d.Spec.Environment(ch.Environment).Windows.For(string(ch.Lane)).At(now); !v.Open {
			ch.Wait = &Wait{Why: v.Why, Next: v.Next}
		}
		if dbPending[ch.Environment] == nil {
			dbPending[ch.Environment] = ch
		}
		p.Changes = append(p.Changes, ch)
	}
	for _, ch := range fileChanges {
		if dc := dbPending[ch.Environment]; dc != nil && (ch.Wait == nil || ch.Wait.Order) {
			why := fmt.Sprintf("the database lane of %s goes first (%s: %s)", ch.Environment, dc.Key(), dc.Reason)
			if dc.Blocked != "" {
				why = fmt.Sprintf("the database lane of %s is blocked (%s): %s", ch.Environment, dc.Key(), dc.Blocked)
			}
			ch.Wait = &Wait{Why: why, Order: true}
			if dc.Wait != nil {
				ch.Wait.Next = dc.Wait.Next
			}
		}
		p.Changes = append(p.Changes, ch)
	}
	return p
}

// planServer decides one server's standing and what to do there.
func planServer(d *Desired, o *Observed, app *spec.App, rel fleet.Release, srv *spec.Server) (*ServerStatus, *ServerChange) {
	ss := &ServerStatus{Server: srv.Name}
	state := o.Servers[srv.Name]
	if state == nil || state.Err != nil {
		ss.State = Unreachable
		if state != nil {
			ss.Reason = state.Err.Error()
		} else {
			ss.Reason = "not observed"
		}
		return ss, nil
	}
	as := state.Apps[app.Name]
	if as == nil {
		as = &fleet.AppState{}
	}
	ss.Current = as.Current
	m := as.Marker
	if as.Current == rel.ID {
		if m != nil && m.Pending != nil && m.Pending.Release == rel.ID {
			ss.State, ss.Reason = OutOfSync, "activation was interrupted"
			return ss, &ServerChange{Server: srv.Name, From: as.Current, Activate: true, Reason: ss.Reason}
		}
		ss.State = InSync
		if cc := o.Content[srv.Name][app.Name]; cc != nil && cc.Release == rel.ID && len(cc.Differ) > 0 {
			ss.State, ss.Drift = Drifted, DriftContent
			ss.Reason = fmt.Sprintf("content drift: %d %s of the release changed on the server: %s", len(cc.Differ), plural(len(cc.Differ), "file", "files"), firstFew(cc.Differ))
			if onDrift(d, srv) == spec.DriftHeal {
				return ss, &ServerChange{Server: srv.Name, From: as.Current, Heal: true, Files: cc.Differ, Reason: ss.Reason}
			}
		}
		return ss, nil
	}
	if m != nil && m.Release == rel.ID && m.Pending == nil && as.Current != "" {
		// gitfleet activated the desired release here; something else
		// switched current since.
		ss.State, ss.Drift = Drifted, DriftVersion
		ss.Reason = fmt.Sprintf("version drift: current was switched to %s outside gitfleet (desired %s)", as.Current, rel.ID)
		if onDrift(d, srv) != spec.DriftHeal {
			return ss, nil
		}
		return ss, &ServerChange{Server: srv.Name, From: as.Current, Stage: !as.IsStaged(rel.ID), Activate: true, Reason: ss.Reason}
	}
	ss.State = OutOfSync
	if m != nil && m.Failed != nil && m.Failed.Release == rel.ID && m.Failed.Revision == d.Revision {
		ss.Held = true
		ss.Reason = "activation failed at this revision, not retried until the revision changes: " + m.Failed.Error
		return ss, nil
	}
	if m != nil && m.Release == as.Current && m.Commit != "" && rel.Commit != "" && m.Commit != rel.Commit &&
		fleet.VersionOf(as.Current) == rel.Version {
		// Same tag, other commit: the tag was moved after deployment.
		ss.Held = true
		ss.Reason = fmt.Sprintf("tag %s moved after deployment (deployed from commit %.12s, now at %.12s): not redeployed; release it under a new tag",
			rel.Version, m.Commit, rel.Commit)
		return ss, nil
	}
	from := as.Current
	switch {
	case as.Current == "" && as.CurrentTarget != "":
		from = as.CurrentTarget
		ss.Reason = fmt.Sprintf("current points to %s, not to a release", as.CurrentTarget)
	case as.Current == "":
		ss.Reason = "not deployed"
	case fleet.VersionOf(as.Current) == rel.Version:
		ss.Reason = fmt.Sprintf("content of %s changed", rel.Version)
	default:
		ss.Reason = fmt.Sprintf("version %s → %s", fleet.VersionOf(as.Current), rel.Version)
	}
	return ss, &ServerChange{Server: srv.Name, From: from, Stage: !as.IsStaged(rel.ID), Activate: true, Reason: ss.Reason}
}

func summarize(c *Change, targets int) string {
	reasons := map[string]int{}
	var order []string
	for _, s := range c.Servers {
		if reasons[s.Reason] == 0 {
			order = append(order, s.Reason)
		}
		reasons[s.Reason]++
	}
	out := fmt.Sprintf("%d of %d servers: ", len(c.Servers), targets)
	for i, r := range order {
		if i > 0 {
			out += "; "
		}
		if len(order) > 1 {
			out += fmt.Sprintf("%s (%d)", r, reasons[r])
		} else {
			out += r
		}
	}
	return out
}

// onDrift is the policy of the server's environment.
func onDrift(d *Desired, srv *spec.Server) string {
	for _, e := range d.Spec.Environments {
		for i := range e.Servers {
			if e.Servers[i].Name == srv.Name {
				return e.OnDrift
			}
		}
	}
	return spec.DriftHeal
}

func firstFew(paths []string) string {
	if len(paths) > 5 {
		return strings.Join(paths[:5], ", ") + fmt.Sprintf(" and %d more", len(paths)-5)
	}
	return strings.Join(paths, ", ")
}
