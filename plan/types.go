package plan

import (
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
)

// Lane is the kind of a change. Each lane is planned and scheduled on its
// own: environment and database changes go ahead of the files that need
// them.
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
	// ConfigHeld lists the servers whose managed files could not be
	// looked at (unreachable, or a record of a newer gitfleet).
	ConfigHeld []*ConfigHeld `json:"configHeld,omitempty"`
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

	// Spec is what the change resolves to in the desired state.
	Spec Resolved `json:"-"`
}

// Resolved is what a change needs of the desired state to be carried out,
// found once by MakePlan: the rollout never looks it up again.
type Resolved struct {
	Revision string
	Author   string
	Env      *spec.Environment
	// App and Release are nil in the environment lane.
	App     *spec.App
	Release *spec.Release
	// Artifact is the release to deliver (files lane).
	Artifact fleet.Release
	// DB are the database changes of the release, in order, with their
	// SQL (database lane).
	DB []DBChange
	// Config are the rendered managed files by server (environment
	// lane).
	Config map[string][]spec.RenderedFile
	// Servers are the servers of the environment by name.
	Servers map[string]*spec.Server
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
	// when one is known (see Annotate).
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

// Step names a server step of a rollout.
type Step string

// The steps.
const (
	StepStage    Step = "stage"
	StepActivate Step = "activate"
	// StepApply writes managed files (environment lane).
	StepApply Step = "apply"
	// StepMigrate applies database changes (database lane).
	StepMigrate Step = "migrate"
	// The steps of the strategies with a load balancer.
	StepDrain    Step = "drain"
	StepReady    Step = "ready"
	StepRollback Step = "rollback"
	StepSwitch   Step = "switch"
)
