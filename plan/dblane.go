package plan

import (
	"fmt"
	"strings"

	"github.com/gitfleet/gitfleet/spec"
)

// DBStep is one pending database change of a plan.
type DBStep struct {
	ID           string `json:"id"`
	What         string `json:"what"` // "sql db/0007.sql" or "command on web-1"
	Irreversible bool   `json:"irreversible,omitempty"`
}

// planDatabaseLane finds the changes of each release not applied yet, in
// order. A change applied with another checksum, an unreadable database,
// or an irreversible change that would go with the files of its release
// without allowIrreversible, blocks the lane (and so the files).
func planDatabaseLane(d *Desired, o *Observed, filesPending map[spec.Key]bool) []*Change {
	var out []*Change
	for _, r := range d.Spec.Releases {
		changes := d.DB[r.Key()]
		if r.Database == nil || len(changes) == 0 {
			continue
		}
		ch := &Change{Lane: LaneDatabase, Environment: r.Environment, App: r.App, Strategy: spec.Live,
			Version: r.Version, To: r.Database.Target}
		obs := o.DB[r.Database.Target]
		switch {
		case obs == nil:
			ch.Blocked = fmt.Sprintf("database %s not observed", r.Database.Target)
		case obs.Err != nil:
			ch.Blocked = fmt.Sprintf("database %s: %v", r.Database.Target, obs.Err)
		}
		var irreversible []string
		for _, c := range changes {
			if ch.Blocked != "" {
				break
			}
			have, applied := obs.Applied[c.ID]
			if applied && have != c.Checksum {
				ch.Blocked = fmt.Sprintf("database change %s was applied with checksum %.12s, the repository now has %.12s: it was edited after it was applied; revert the edit or add a new change", c.ID, have, c.Checksum)
				break
			}
			if applied {
				continue
			}
			what := "sql " + c.SQL
			if c.Command != "" {
				what = "command on " + c.Server
			}
			ch.DB = append(ch.DB, DBStep{ID: c.ID, What: what, Irreversible: c.Irreversible})
			if c.Irreversible {
				irreversible = append(irreversible, c.ID)
			}
		}
		if len(ch.DB) == 0 && ch.Blocked == "" {
			continue
		}
		ch.Reason = fmt.Sprintf("%d database %s pending on %s", len(ch.DB), plural(len(ch.DB), "change", "changes"), r.Database.Target)
		if len(irreversible) > 0 {
			ch.Warning = fmt.Sprintf("irreversible: %s; never undone, not even when the files roll back", strings.Join(irreversible, ", "))
			if filesPending[r.Key()] && !r.Database.AllowIrreversible && ch.Blocked == "" {
				ch.Blocked = fmt.Sprintf("irreversible database change %s would go in the same step as the files of %s: set database.allowIrreversible: true to let it, or release it on its own first", strings.Join(irreversible, ", "), r.Version)
			}
		}
		out = append(out, ch)
	}
	return out
}
