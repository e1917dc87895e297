package reconcile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/plan"
)

// A server that leaves the desired state is left as it is: no longer
// observed, deployed to or counted. That is a change like any other, so
// the daemon says which servers a new desired state unmanages, and keeps
// the servers of the state in force in its state directory, where a
// restarted daemon and `gitfleet plan` find them to compare with.

// ManagedFormat is the format of the record of managed servers this
// gitfleet writes; format 0 is the same record without a format field.
const ManagedFormat = 1

// ReadManaged reads the record at path; a missing file is nil.
func ReadManaged(path string) (*plan.Managed, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m plan.Managed
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.Format > ManagedFormat {
		return nil, fmt.Errorf("%s: %w", path, &fleet.NewerFormatError{What: "the record of managed servers", Format: m.Format, Known: ManagedFormat})
	}
	return &m, nil
}

// WriteManaged replaces the record at path atomically.
func WriteManaged(path string, m *plan.Managed) error {
	cp := *m
	cp.Format = ManagedFormat
	b, err := json.Marshal(&cp)
	if err != nil {
		return err
	}
	return writeAtomic(path, b)
}

// NoteUnmanaged compares the plan's desired state with the daemon's record
// at file (its managedFile in the state directory) and notes in the plan
// the servers no longer managed. Without a record, only a desired state
// without any Environment is worth a note: which servers were managed
// before is then not known.
func NoteUnmanaged(p *plan.Plan, d *plan.Desired, file string) error {
	rec, err := ReadManaged(file)
	switch {
	case rec != nil:
		if gone := rec.Unmanaged(d.Spec); len(gone) > 0 {
			p.Unmanaged = &plan.Unmanaged{Since: rec.Revision, Servers: gone}
		}
	case len(d.Spec.Environments) == 0:
		p.Unmanaged = &plan.Unmanaged{Note: fmt.Sprintf("which servers the daemon manages now is not known here (no %s)", file)}
	}
	return err
}

// maxLoggedServers bounds the names in one log line.
const maxLoggedServers = 50

// noteUnmanaged logs the servers that d no longer manages, compared with
// the desired state in force before (or the record of the daemon that ran
// before this one), and records d's servers.
func (c *Controller) noteUnmanaged(d *plan.Desired) {
	c.managedMu.Lock()
	defer c.managedMu.Unlock()
	prev := c.managed
	if prev == nil && c.cfg.ManagedFile != "" {
		var err error
		if prev, err = ReadManaged(c.cfg.ManagedFile); err != nil {
			c.log.Warn("the record of managed servers is unreadable; replacing it", "err", err)
		}
	}
	if len(d.Spec.Environments) == 0 {
		c.log.Warn("the desired state has no Environment (allowEmpty): no server is managed", "revision", fleet.ShortRevision(d.Revision))
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
			c.log.Warn("servers no longer managed: left as they are, no longer observed or deployed to",
				"count", len(gone), "servers", names, "revision", fleet.ShortRevision(d.Revision), "previous", fleet.ShortRevision(prev.Revision))
		}
	}
	c.managed = plan.ManagedOf(d)
	if c.cfg.ManagedFile != "" {
		if err := WriteManaged(c.cfg.ManagedFile, c.managed); err != nil {
			c.log.Warn("cannot keep the record of managed servers", "err", err)
		}
	}
}
