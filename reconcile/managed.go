package reconcile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/gitfleet/gitfleet/source"
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

// ReadManaged reads the record at path; a missing file is nil.
func ReadManaged(path string) (*Managed, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m Managed
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}

// WriteManaged replaces the record at path atomically.
func WriteManaged(path string, m *Managed) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-managed-")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// Unmanaged is what a plan says of the servers it no longer manages.
type Unmanaged struct {
	// Since is the revision of the daemon's desired state compared with.
	Since   string          `json:"since,omitempty"`
	Servers []ManagedServer `json:"servers,omitempty"`
	// Note says what could not be known.
	Note string `json:"note,omitempty"`
}

// NoteUnmanaged compares the plan's desired state with the daemon's record
// at file (its managedFile in the state directory) and notes in the plan
// the servers no longer managed. Without a record, only a desired state
// without any Environment is worth a note: which servers were managed
// before is then not known.
func NoteUnmanaged(p *Plan, d *Desired, file string) error {
	rec, err := ReadManaged(file)
	switch {
	case rec != nil:
		if gone := rec.Unmanaged(d.Spec); len(gone) > 0 {
			p.Unmanaged = &Unmanaged{Since: rec.Revision, Servers: gone}
		}
	case len(d.Spec.Environments) == 0:
		p.Unmanaged = &Unmanaged{Note: fmt.Sprintf("which servers the daemon manages now is not known here (no %s)", file)}
	}
	return err
}

// maxLoggedServers bounds the names in one log line.
const maxLoggedServers = 50

// noteUnmanaged logs the servers that d no longer manages, compared with
// the desired state in force before (or the record of the daemon that ran
// before this one), and records d's servers.
func (c *Controller) noteUnmanaged(d *Desired) {
	c.managedMu.Lock()
	defer c.managedMu.Unlock()
	prev := c.managed
	if prev == nil && c.ManagedFile != "" {
		var err error
		if prev, err = ReadManaged(c.ManagedFile); err != nil {
			c.Log.Warn("the record of managed servers is unreadable; replacing it", "err", err)
		}
	}
	if len(d.Spec.Environments) == 0 {
		c.Log.Warn("the desired state has no Environment (allowEmpty): no server is managed", "revision", source.ShortRevision(d.Revision))
	}
	if prev != nil {
		if gone := prev.Unmanaged(d.Spec); len(gone) > 0 {
			var names []string
			for i, s := range gone {
				if i == maxLoggedServers {
					names = append(names, fmt.Sprintf("… %d more", len(gone)-i))
					break
				}
				names = append(names, s.Environment+"/"+s.Server)
			}
			c.Log.Warn("servers no longer managed: left as they are, no longer observed or deployed to",
				"count", len(gone), "servers", names, "revision", source.ShortRevision(d.Revision), "previous", source.ShortRevision(prev.Revision))
		}
	}
	c.managed = ManagedOf(d)
	if c.ManagedFile != "" {
		if err := WriteManaged(c.ManagedFile, c.managed); err != nil {
			c.Log.Warn("cannot keep the record of managed servers", "err", err)
		}
	}
}
