package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/fleet"

	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
)

// ConfigObservation is what the managed files of one server hold.
type ConfigObservation struct {
	Files map[string]fleet.FileState
	Err   error
}

// ObserveConfig reads the managed files of every server of every
// environment that has a config, at most parallelism servers at a time.
func ObserveConfig(ctx context.Context, x Executor, d *spec.Desired, parallelism int, timeout time.Duration) map[string]*ConfigObservation {
	type work struct {
		srv   *spec.Server
		paths []string
	}
	var todo []work
	for _, env := range d.Environments {
		if env.Config == nil {
			continue
		}
		for i := range env.Servers {
			files, err := env.RenderConfig(&env.Servers[i])
			if err != nil {
				continue // validation rendered them already
			}
			var paths []string
			for _, f := range files {
				paths = append(paths, f.Path)
			}
			todo = append(todo, work{&env.Servers[i], paths})
		}
	}
	res := make(map[string]*ConfigObservation, len(todo))
	var mu sync.Mutex
	forEach(ctx, len(todo), parallelism, func(i int) {
		w := todo[i]
		cctx, cancel := context.WithTimeout(ctx, timeout)
		files, err := x.ObserveConfig(cctx, w.srv, w.paths)
		cancel()
		mu.Lock()
		res[w.srv.Name] = &ConfigObservation{Files: files, Err: err}
		mu.Unlock()
	})
	return res
}

// planEnvironmentLane finds, server by server, the managed files whose
// content or mode differs from the desired state. In an environment with
// onDrift: alert whose config was applied as it is now, differences are
// drift: reported in drift, not changed.
func planEnvironmentLane(d *Desired, o *Observed) (out []*Change, drift []*ConfigDrift) {
	for _, env := range d.Spec.Environments {
		if env.Config == nil {
			continue
		}
		alertOnly := env.OnDrift == spec.DriftAlert && o.ConfigApplied[env.Name] == configDigest(env)
		var ch *Change
		for i := range env.Servers {
			srv := &env.Servers[i]
			obs := o.Config[srv.Name]
			if obs == nil || obs.Err != nil {
				continue // unreachable: reported by the files lane's observation
			}
			files, err := env.RenderConfig(srv)
			if err != nil {
				continue
			}
			var differ []string
			for _, f := range files {
				have := obs.Files[f.Path]
				if !have.Exists || have.Digest != f.Digest || have.Mode != f.Mode {
					differ = append(differ, f.Path)
				}
			}
			if len(differ) == 0 {
				continue
			}
			if alertOnly {
				drift = append(drift, &ConfigDrift{Environment: env.Name, Server: srv.Name, Files: differ})
				continue
			}
			if ch == nil {
				ch = &Change{Lane: LaneEnvironment, Environment: env.Name, Strategy: spec.Live, To: configDigest(env)}
			}
			ch.Servers = append(ch.Servers, &ServerChange{Server: srv.Name, Activate: true, Files: differ,
				Reason: fmt.Sprintf("%d managed %s differ: %s", len(differ), plural(len(differ), "file", "files"), strings.Join(differ, ", "))})
		}
		if ch != nil {
			ch.Reason = fmt.Sprintf("%d of %d servers: managed files differ", len(ch.Servers), len(env.Servers))
			out = append(out, ch)
		}
	}
	return out, drift
}

// ConfigDrift is a server whose managed files were changed outside
// gitfleet, in an environment that only reports drift.
type ConfigDrift struct {
	Environment string   `json:"environment"`
	Server      string   `json:"server"`
	Files       []string `json:"files"`
}

// configDigest names the environment's desired config (first server's
// rendering; templates may differ per server).
func configDigest(env *spec.Environment) string {
	var parts []string
	for i := range env.Servers {
		files, _ := env.RenderConfig(&env.Servers[i])
		for _, f := range files {
			parts = append(parts, f.Path+"="+f.Digest)
		}
	}
	sort.Strings(parts)
	sum := strings.Join(parts, "\n")
	return "config-" + shortSum(sum)
}

func shortSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

// environment applies the managed files on every server of the change,
// bounded like staging; each server is on its own.
func (ro *Rollout) environment(ctx, stop context.Context, d *Desired, ch *Change, res *Result) {
	env := d.Spec.Environment(ch.Environment)
	log := ro.Log.With("environment", ch.Environment, "lane", string(LaneEnvironment), "revision", source.ShortRevision(d.Revision))
	res.Servers = make([]ServerResult, len(ch.Servers))
	forEach(stop, len(ch.Servers), ro.StageParallelism, func(i int) {
		sc := ch.Servers[i]
		res.Servers[i].Server = sc.Server
		var srv *spec.Server
		for j := range env.Servers {
			if env.Servers[j].Name == sc.Server {
				srv = &env.Servers[j]
			}
		}
		files, err := env.RenderConfig(srv)
		if err == nil {
			want := map[string]bool{}
			for _, p := range sc.Files {
				want[p] = true
			}
			var write []spec.RenderedFile
			for _, f := range files {
				if want[f.Path] {
					write = append(write, f)
				}
			}
			err = ro.Exec.ApplyConfig(ctx, fleet.ConfigRequest{Environment: env.Name, Server: srv, Files: write,
				OnChange: env.Config.OnChange, Revision: d.Revision, Log: log.With("server", sc.Server)})
		}
		res.Servers[i].Step = StepApply
		if err != nil {
			log.Error("environment lane failed", "server", sc.Server, "err", err)
			res.Servers[i].Err = err.Error()
		} else {
			log.Info("environment lane applied", "server", sc.Server, "files", len(sc.Files))
			res.Servers[i].Done = true
		}
	})
}
