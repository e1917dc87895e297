package config

import (
	"strings"
	"testing"
)

// TestRefuseMovedTags: refuseMovedTags is taken with a tag or semver source
// and refused, at its line, with a branch or commit.
func TestRefuseMovedTags(t *testing.T) {
	const file = "/etc/gitfleet/gitfleet.yaml"
	cfg := func(ref string) string {
		return "source:\n  git:\n    url: https://git.example.com/fleet.git\n    " + ref +
			"\n    refuseMovedTags: true\ntransport: {type: local, local: {root: r}}\nstateDir: s\n"
	}
	for _, ref := range []string{"tag: v1", "semver: '>=1.0.0'"} {
		c, err := Parse(file, []byte(cfg(ref)))
		if err != nil || !c.Source.Git.RefuseMovedTags {
			t.Errorf("%s: got %v, want refuseMovedTags taken", ref, err)
		}
	}
	for _, ref := range []string{"branch: main", "commit: " + strings.Repeat("a", 40)} {
		_, err := Parse(file, []byte(cfg(ref)))
		want := file + ":5: source.git.refuseMovedTags needs a tag or semver source"
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %q", ref, err, want)
		}
	}
}
