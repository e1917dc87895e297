package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGitSourceMovedTagEndToEnd runs the daemon on a Git source that
// follows tag v1 of a remote served over smart HTTP, then moves the tag to
// a commit that promotes production to v1.1.0. By default the move is
// followed, logged as a warning and counted; with refuseMovedTags it is
// refused and production stays on the last good desired state.
func TestGitSourceMovedTagEndToEnd(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		name := "followed"
		if refuse {
			name = "refused"
		}
		t.Run(name, func(t *testing.T) {
			qs, remote, srv, _ := gitQuickstartServer(t, "1s")
			remote.Run("tag", "-a", "v1", "-m", "v1")
			remote.Push()
			cfg := `source:
  git:
    url: ` + srv.URL + `/fleet.git
    tag: v1
    path: fleet
    interval: 1s
`
			if refuse {
				cfg += "    refuseMovedTags: true\n"
			}
			write(t, filepath.Join(qs, "gitfleet.yaml"), cfg+`transport:
  type: local
  local: {root: state/fleet}
stateDir: state
`)
			d := startDaemon(t, filepath.Join(qs, "gitfleet.yaml"))
			onVersion := func(version string) func() bool {
				return func() bool {
					for _, s := range production {
						if active(qs, s) != version {
							return false
						}
					}
					return d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3
				}
			}
			d.waitFor("production on v1.0.0 from tag v1", onVersion("v1.0.0"))
			first := strings.TrimSpace(remote.Run("rev-parse", "v1^{commit}"))

			rel := filepath.Join(remote.Work, "fleet", "releases", "production.yaml")
			b, _ := os.ReadFile(rel)
			remote.Write(map[string]string{"fleet/releases/production.yaml": strings.Replace(string(b), "version: v1.0.0", "version: v1.1.0", 1)})
			moved := remote.Commit("promote v1.1.0 under the old tag")
			remote.Run("tag", "-f", "-a", "v1", "-m", "v1 moved")
			remote.Push()

			if !refuse {
				d.waitFor("production on v1.1.0 from the moved tag", onVersion("v1.1.0"))
				if got := d.metric("gitfleet_source_tag_moved_total"); got != 1 {
					t.Errorf("gitfleet_source_tag_moved_total = %v, want 1", got)
				}
				logs := d.logs.String()
				if !strings.Contains(logs, `"level":"WARN","msg":"tag moved: following it"`) ||
					!strings.Contains(logs, `"from":"`+first+`"`) || !strings.Contains(logs, `"to":"`+moved+`"`) {
					t.Errorf("no warning names the tag's old commit %s and new commit %s", first, moved)
				}
				d.stop()
				return
			}
			d.waitFor("the moved tag refused", func() bool {
				return d.metric("gitfleet_source_fetch_errors_total", `reason="tag_moved"`) >= 2
			})
			if d.metric("gitfleet_desired_state_valid") != 0 {
				t.Error("gitfleet_desired_state_valid is not 0 while the tag is refused")
			}
			if !onVersion("v1.0.0")() || d.metric("gitfleet_source_tag_moved_total") != 0 {
				t.Error("production left the last good desired state, or a refused move was counted as followed")
			}
			if want := "tag v1 moved from " + first[:12] + " to " + moved[:12] + "; refuseMovedTags refuses it"; !strings.Contains(d.logs.String(), want) {
				t.Errorf("no log line says %q", want)
			}
			d.stop()
		})
	}
}
