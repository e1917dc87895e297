package plan

import (
	"sort"

	"github.com/gitfleet/gitfleet/spec"
)

// A server that leaves the desired state is left as it is: no longer
// observed, deployed to or counted. That is a change like any other, so
// the daemon says which servers a new desired state unmanages, and keeps
// the servers of the state in force in its state directory, where a
// restarted daemon and `gitfleet plan` find them to compare with.

// ManagedServer is a server of a desired state.
type ManagedServer struct {
	Environment string `json:"environment"`
	Server      string `json:"server"`
}

// Managed is the servers of the desired state at a revision.
type Managed struct {
	// Format is the record's format when kept in a file.
	Format   int             `json:"format,omitempty"`
	Revision string          `json:"revision"`
	Servers  []ManagedServer `json:"servers"`
}

// ManagedOf lists the servers of d, sorted by name.
func ManagedOf(d *Desired) *Managed {
	m := &Managed{Revision: d.Revision}
	for _, e := range d.Spec.Environments {
		for _, s := range e.Servers {
			m.Servers = append(m.Servers, ManagedServer{Environment: e.Name, Server: s.Name})
		}
	}
	sort.Slice(m.Servers, func(i, j int) bool { return m.Servers[i].Server < m.Servers[j].Server })
	return m
}

// Unmanaged lists the servers of m that next names in no Environment. A
// server that moved to another Environment is still managed.
func (m *Managed) Unmanaged(next *spec.Desired) []ManagedServer {
	names := map[string]bool{}
	for _, e := range next.Environments {
		for _, s := range e.Servers {
			names[s.Name] = true
		}
	}
	var out []ManagedServer
	for _, s := range m.Servers {
		if !names[s.Server] {
			out = append(out, s)
		}
	}
	return out
}

// Unmanaged is what a plan says of the servers it no longer manages.
type Unmanaged struct {
	// Since is the revision of the daemon's desired state compared with.
	Since   string          `json:"since,omitempty"`
	Servers []ManagedServer `json:"servers,omitempty"`
	// Note says what could not be known.
	Note string `json:"note,omitempty"`
}
