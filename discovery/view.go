package discovery

import (
	"fmt"
	"strings"
	"time"
)

// Environment is what the Manager needs of one Environment of the desired
// state. Pass every Environment, with discovery or not: discovered
// servers are checked against the static servers of all of them.
type Environment struct {
	Name string
	// Discovery is the Environment's discovery section; nil when it has
	// only static servers.
	Discovery *Config
	// Static are its servers written in the desired state, as spec
	// validated them.
	Static []Static
	// Claims are what gitfleet writes on its servers, for the check of
	// two servers that are one machine (spec's rule, see Claim).
	Claims []Claim
	// DefaultPort is the SSH port of a server whose address names none:
	// the Environment's ssh.port, else the transport's.
	DefaultPort int
	// Seed is the discovered servers the controller knew before a
	// restart (its record of the last View). They stand as each source's
	// last good list until the source answers, so that a restart with a
	// broken inventory changes nothing, and maxRemove counts from them.
	// Only read when the Environment is new to the Manager.
	Seed []Server
}

// Static is a server written in the desired state.
type Static struct {
	Name    string
	Address string
	// LBName is its name in the load balancer when not Name.
	LBName string
	// Host and Port are its address resolved by spec (Port 0: the
	// default port).
	Host   string
	Port   int
	Groups []string
	// Pos is where it is written (file:line).
	Pos string
}

// Claim is a path gitfleet writes on the servers of an Environment that
// are in Groups (all when empty): an app's deployTo, a managed file. Two
// server entries that are one machine (the same host and port) are
// allowed only if what they write is disjoint, as in spec/machines.go.
type Claim struct {
	Path string
	// What says what it is: `deployTo of app "web"`, "a managed file".
	What   string
	Groups []string
}

// View is an Environment's servers as the controller should use them.
type View struct {
	Environment string `json:"environment"`
	// Generation counts the lists discovery made for this Environment;
	// this is the one in force.
	Generation uint64 `json:"generation"`
	// Servers are the static servers in their order, then the
	// discovered ones by name: unique names, valid, no machine claimed
	// twice.
	Servers []Server `json:"servers"`
	// Rejected are the entries left out, each with its origin.
	Rejected []Rejection `json:"rejected,omitempty"`
	// Sources say how each source is doing.
	Sources []SourceStatus `json:"sources,omitempty"`
	// Held is a newer list waiting for an operator's Confirm, or nil.
	Held *Held `json:"held,omitempty"`
}

// Discovered returns the discovered servers of the view.
func (v View) Discovered() []Server {
	for i, s := range v.Servers {
		if s.Source != KindStatic {
			return v.Servers[i:]
		}
	}
	return nil
}

// Held is a list that would remove more servers than maxRemove allows;
// it is not applied until Confirm(environment, Generation).
type Held struct {
	Generation uint64 `json:"generation"`
	// Removed are the first maxReported names it removes; RemovedCount
	// counts them all.
	Removed      []string `json:"removed"`
	RemovedCount int      `json:"removedCount"`
	// Added counts the servers it adds.
	Added int `json:"added"`
	// Servers is how many the Environment has now, Limit how many
	// maxRemove lets one list remove without confirmation.
	Servers   int       `json:"servers"`
	Limit     int       `json:"limit"`
	MaxRemove string    `json:"maxRemove"`
	Since     time.Time `json:"since"`
}

// maxReported bounds the names a Held lists.
const maxReported = 100

// Reason says why the list is held, for status and logs.
func (h *Held) Reason() string {
	names := strings.Join(h.Removed, ", ")
	if h.RemovedCount > len(h.Removed) {
		names += fmt.Sprintf(" and %d more", h.RemovedCount-len(h.Removed))
	}
	return fmt.Sprintf("held: the new list removes %d of %d servers (%s), more than maxRemove %s allows (%d); confirm generation %d to apply it",
		h.RemovedCount, h.Servers, names, h.MaxRemove, h.Limit, h.Generation)
}

// SourceStatus is how one source of an Environment is doing.
type SourceStatus struct {
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// Servers counts its last good list, Rejected the entries of that
	// answer that were left out.
	Servers  int `json:"servers"`
	Rejected int `json:"rejected"`
	// Answered says the source has a good list (its own, or the seed).
	Answered bool      `json:"answered"`
	LastGood time.Time `json:"lastGood,omitzero"`
	// Err is the last read's error when it failed: the list of the last
	// good read stays. Failures counts failed reads in a row.
	Err      string    `json:"error,omitempty"`
	ErrSince time.Time `json:"errorSince,omitzero"`
	Failures int       `json:"failures,omitempty"`
}
