package reconcile

import (
	"context"
	"fmt"
	"strings"

	"github.com/gitfleet/gitfleet/fleet"

	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
)

// Database is a target of the database lane: the record of what is
// applied lives in the database itself. db.Postgres is the real one.
type Database interface {
	Applied(ctx context.Context) (map[string]string, error)
	Apply(ctx context.Context, ch fleet.DBChange) (skipped bool, err error)
}

// DBFunc returns the database a Release names (gitfleet.yaml's databases).
type DBFunc func(target string) (Database, error)

// DBObservation is what a database says is applied: id → checksum.
type DBObservation struct {
	Applied map[string]string
	Err     error
}

// DBStep is one pending database change of a plan.
type DBStep struct {
	ID           string `json:"id"`
	What         string `json:"what"` // "sql db/0007.sql" or "command on web-1"
	Irreversible bool   `json:"irreversible,omitempty"`
}

// ObserveDBs reads the applied changes of every database a Release names.
func ObserveDBs(ctx context.Context, dbs DBFunc, d *Desired) map[string]*DBObservation {
	res := map[string]*DBObservation{}
	for _, r := range d.Spec.Releases {
		if r.Database == nil || res[r.Database.Target] != nil {
			continue
		}
		o := &DBObservation{}
		if dbs == nil {
			o.Err = fmt.Errorf("database %q: no databases configured in gitfleet.yaml", r.Database.Target)
		} else if db, err := dbs(r.Database.Target); err != nil {
			o.Err = err
		} else {
			o.Applied, o.Err = db.Applied(ctx)
		}
		res[r.Database.Target] = o
	}
	return res
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

// database applies the pending changes of a release in order, and stops
// at the first failure (the files of the release then keep waiting).
func (ro *Rollout) database(ctx, stop context.Context, d *Desired, ch *Change, res *Result) {
	log := ro.Log.With("environment", ch.Environment, "app", ch.App, "lane", string(LaneDatabase), "revision", source.ShortRevision(d.Revision))
	res.Servers = []ServerResult{{Server: ch.To, Step: StepMigrate}}
	fail := func(err error) {
		log.Error("database lane failed", "database", ch.To, "err", err)
		res.Servers[0].Err = err.Error()
	}
	if ch.Blocked != "" {
		return // reported in the plan; nothing runs
	}
	if ro.DBs == nil {
		fail(fmt.Errorf("no databases configured"))
		return
	}
	db, err := ro.DBs(ch.To)
	if err != nil {
		fail(err)
		return
	}
	pending := map[string]bool{}
	for _, s := range ch.DB {
		pending[s.ID] = true
	}
	env := d.Spec.Environment(ch.Environment)
	for _, c := range d.DB[ch.Key()] {
		if !pending[c.ID] {
			continue
		}
		if stop.Err() != nil {
			res.Stopped = true
			return
		}
		if c.Command != "" {
			var srv *spec.Server
			for i := range env.Servers {
				if env.Servers[i].Name == c.Server {
					srv = &env.Servers[i]
				}
			}
			out, err := ro.Exec.RunCommand(ctx, srv, []string{"GITFLEET_ENVIRONMENT=" + ch.Environment, "GITFLEET_APP=" + ch.App,
				"GITFLEET_CHANGE=" + c.ID, "GITFLEET_REVISION=" + d.Revision}, c.Command)
			if err != nil {
				fail(fmt.Errorf("database change %s (command on %s): %w: %s", c.ID, c.Server, err, strings.TrimSpace(string(out))))
				return
			}
		}
		skipped, err := db.Apply(ctx, fleet.DBChange{ID: c.ID, SQL: c.SQLText, Checksum: c.Checksum, Transaction: !c.NoTransaction,
			Revision: d.Revision, App: ch.App, Environment: ch.Environment})
		if err != nil {
			fail(err)
			return
		}
		log.Info("database change applied", "database", ch.To, "change", c.ID, "irreversible", c.Irreversible, "skipped", skipped)
	}
	res.Servers[0].Done = true
}
