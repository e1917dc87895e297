package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/gitfleet/gitfleet/spec"
)

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
