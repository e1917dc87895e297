package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
)

// The environment lane is level-triggered: each server says what the lane
// applied there (its records, fleet.EnvRecord), so that a file is
//
//   - in sync when it is as desired and recorded so;
//   - drifted when it differs from what was applied, and what was applied
//     is what is desired: changed outside gitfleet. With onDrift: alert it
//     is reported and left alone; with heal it is written again;
//   - to apply when what is desired differs from what was applied (a new
//     desired state, a file never applied, an onChange that failed);
//   - to record when it is as desired but its root holds no record at all
//     (applied by a gitfleet before the records): the record is written,
//     nothing else.
//
// The daemon, a restarted daemon and `gitfleet plan` therefore plan alike.

// planEnvironmentLane finds, server by server, the managed files to apply,
// to record, and those that drifted.
func planEnvironmentLane(d *Desired, o *Observed) (out []*Change, drift []*ConfigDrift, held []*ConfigHeld) {
	for _, env := range d.Spec.Environments {
		if env.Config == nil {
			continue
		}
		var ch *Change
		rendered := map[string][]spec.RenderedFile{}
		for i := range env.Servers {
			srv := &env.Servers[i]
			files, err := env.RenderConfig(srv)
			if err != nil {
				continue // validation rendered them already
			}
			rendered[srv.Name] = files
			obs := o.Config[srv.Name]
			if obs == nil || obs.Err != nil {
				why := "not observed"
				if obs != nil {
					why = obs.Err.Error()
				}
				held = append(held, &ConfigHeld{Environment: env.Name, Server: srv.Name, Reason: why})
				continue
			}
			sc, drifted := planConfigServer(env, srv.Name, files, obs)
			if len(drifted) > 0 {
				drift = append(drift, &ConfigDrift{Environment: env.Name, Server: srv.Name, Files: drifted})
			}
			if sc == nil {
				continue
			}
			if ch == nil {
				ch = &Change{Lane: LaneEnvironment, Environment: env.Name, Strategy: spec.Live}
			}
			ch.Servers = append(ch.Servers, sc)
		}
		if ch != nil {
			ch.To = configDigest(rendered)
			ch.Spec.Config = rendered
			ch.Reason = fmt.Sprintf("%d of %d servers: managed files differ", len(ch.Servers), len(env.Servers))
			out = append(out, ch)
		}
	}
	return out, drift, held
}

// planConfigServer decides what the lane does on one server, and which
// files drifted there.
func planConfigServer(env *spec.Environment, server string, files []spec.RenderedFile, obs *ConfigObservation) (*ServerChange, []string) {
	var apply, drifted, drift []string
	record := false
	for _, f := range files {
		want := fleet.FileState{Exists: true, Digest: f.Digest, Mode: f.Mode}
		have := obs.Files[f.Path]
		applied, known := obs.Applied[f.Path]
		switch {
		case have == want && known && applied == want:
		case have == want && obs.NoRecord[f.Path]:
			record = true
		case have == want:
			apply = append(apply, f.Path) // applied otherwise: onChange may not have run
		case known && applied == want:
			drifted = append(drifted, f.Path)
		default:
			apply = append(apply, f.Path)
		}
	}
	if env.OnDrift != spec.DriftAlert {
		apply, drift = append(apply, drifted...), nil
		sort.Strings(apply)
	} else {
		drift = drifted
	}
	switch {
	case len(apply) > 0:
		return &ServerChange{Server: server, Activate: true, Files: apply,
			Reason: fmt.Sprintf("%d managed %s differ: %s", len(apply), plural(len(apply), "file", "files"), strings.Join(apply, ", "))}, drift
	case record:
		return &ServerChange{Server: server, Activate: true,
			Reason: fmt.Sprintf("%d managed %s as desired, not recorded yet: record what is applied", len(files), plural(len(files), "file", "files"))}, drift
	}
	return nil, drift
}

// ConfigDrift is a server whose managed files were changed outside
// gitfleet after they were applied, in an environment that only reports
// drift.
type ConfigDrift struct {
	Environment string   `json:"environment"`
	Server      string   `json:"server"`
	Files       []string `json:"files"`
}

// ConfigHeld is a server whose managed files could not be looked at: the
// environment lane does nothing there.
type ConfigHeld struct {
	Environment string `json:"environment"`
	Server      string `json:"server"`
	Reason      string `json:"reason"`
}

// configDigest names the environment's desired config: every server's
// rendering, path and digest, sorted.
func configDigest(rendered map[string][]spec.RenderedFile) string {
	var parts []string
	for srv, files := range rendered {
		for _, f := range files {
			parts = append(parts, srv+"\x00"+f.Path+"="+f.Digest)
		}
	}
	sort.Strings(parts)
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return "config-" + hex.EncodeToString(sum[:6])
}
