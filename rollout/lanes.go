package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/spec"
)

// environment applies the managed files on every server of the change,
// bounded like staging; each server is on its own.
func (ro *Rollout) environment(ctx, stop context.Context, ch *plan.Change, res *Result) {
	env := ch.Spec.Env
	log := ro.Log.With("environment", ch.Environment, "lane", string(plan.LaneEnvironment), "revision", fleet.ShortRevision(ch.Spec.Revision))
	res.Servers = make([]ServerResult, len(ch.Servers))
	forEach(stop, len(ch.Servers), ro.StageParallelism, func(i int) {
		sc := ch.Servers[i]
		res.Servers[i] = ServerResult{Server: sc.Server, Step: plan.StepApply}
		all := ch.Spec.Config[sc.Server]
		want := map[string]bool{}
		for _, p := range sc.Files {
			want[p] = true
		}
		var write []spec.RenderedFile
		for _, f := range all {
			if want[f.Path] {
				write = append(write, f)
			}
		}
		// Writing the files and onChange on one server are bounded like
		// staging a release there (distribution.timeout).
		actx, cancel := context.WithTimeout(ctx, ro.StageTimeout)
		err := ro.Config.ApplyConfig(actx, fleet.ConfigRequest{Environment: env.Name, Server: ch.Spec.Servers[sc.Server], Files: write, All: all,
			OnChange: env.Config.OnChange, Revision: ch.Spec.Revision, Log: log.With("server", sc.Server)})
		cancel()
		if err != nil {
			log.Error("environment lane failed", "server", sc.Server, "err", err)
			res.Servers[i].Err = err.Error()
			return
		}
		log.Info("environment lane applied", "server", sc.Server, "files", len(sc.Files))
		res.Servers[i].Done = true
	})
}

// database applies the pending changes of a release in order, and stops
// at the first failure (the files of the release then keep waiting).
func (ro *Rollout) database(ctx, stop context.Context, ch *plan.Change, res *Result) {
	log := ro.Log.With("environment", ch.Environment, "app", ch.App, "lane", string(plan.LaneDatabase), "revision", fleet.ShortRevision(ch.Spec.Revision))
	res.Servers = []ServerResult{{Server: ch.To, Step: plan.StepMigrate}}
	if ch.Blocked != "" {
		return // reported in the plan; nothing runs
	}
	err := ro.migrate(ctx, stop, ch, log.Info)
	if errors.Is(err, errStopped) {
		res.Stopped = true
		return
	}
	if err != nil {
		log.Error("database lane failed", "database", ch.To, "err", err)
		res.Servers[0].Err = err.Error()
		return
	}
	res.Servers[0].Done = true
}

var errStopped = errors.New("stopped")

// migrate applies the change's pending database changes in order, each
// bounded by the database's change timeout.
func (ro *Rollout) migrate(ctx, stop context.Context, ch *plan.Change, info func(string, ...any)) error {
	db, err := ro.DBs(ch.To)
	if err != nil {
		return err
	}
	pending := map[string]bool{}
	for _, s := range ch.DB {
		pending[s.ID] = true
	}
	for _, c := range ch.Spec.DB {
		if !pending[c.ID] {
			continue
		}
		if stop.Err() != nil {
			return errStopped
		}
		if c.Command != "" {
			if err := ro.dbCommand(ctx, ch, c, db); err != nil {
				return err
			}
		}
		cctx, cancel := context.WithTimeout(ctx, db.ChangeTimeout())
		skipped, err := db.Apply(cctx, fleet.DBChange{ID: c.ID, SQL: c.SQLText, Checksum: c.Checksum, Transaction: !c.NoTransaction,
			Revision: ch.Spec.Revision, App: ch.App, Environment: ch.Environment})
		cancel()
		if err != nil {
			return err
		}
		info("database change applied", "database", ch.To, "change", c.ID, "irreversible", c.Irreversible, "skipped", skipped)
	}
	return nil
}

// dbCommand runs a command change on its server, bounded by the
// database's change timeout.
func (ro *Rollout) dbCommand(ctx context.Context, ch *plan.Change, c plan.DBChange, db Database) error {
	srv := ch.Spec.Servers[c.Server]
	if srv == nil {
		return fmt.Errorf("database change %s: server %s is not in environment %s", c.ID, c.Server, ch.Environment)
	}
	cctx, cancel := context.WithTimeout(ctx, db.ChangeTimeout())
	defer cancel()
	out, err := ro.Commands.RunCommand(cctx, srv, []string{"GITFLEET_ENVIRONMENT=" + ch.Environment, "GITFLEET_APP=" + ch.App,
		"GITFLEET_CHANGE=" + c.ID, "GITFLEET_REVISION=" + ch.Spec.Revision}, c.Command)
	if err != nil {
		return fmt.Errorf("database change %s (command on %s): %w: %s", c.ID, c.Server, err, quote(out))
	}
	return nil
}

// maxQuoted bounds what an error quotes of a command's output: its end,
// where errors usually are.
const maxQuoted = 2048

func quote(out []byte) string {
	s := strings.TrimSpace(string(out))
	if len(s) > maxQuoted {
		s = "…" + s[len(s)-maxQuoted:]
	}
	return s
}
