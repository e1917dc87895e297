package resolve

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/tree"
)

// A Git tag names one release for good. When the tag of a Git artifact is
// moved after its version was activated somewhere, the servers that run it
// are not redeployed, and a server that joins later (a new server, one that
// was unreachable, another Environment releasing the same version) must not
// get the moved content either, or the fleet runs two contents under one
// version.
//
// The pin lives on the servers, not in the daemon: every activation records
// the artifact's commit in the server's marker (.gitfleet/state.json,
// fleet.Marker.Commit), and each pass, having observed the fleet, takes
// the commit of the earliest activation of the version among the markers it
// read as the version's pin. This keeps the design level-triggered: a
// restarted daemon, another replica, or one whose state directory was lost
// pins the same commit, since the servers still say what they got. A record
// in the state directory would be lost with it, and would disagree with
// the fleet after a restore. The pin lasts as long as one server records an
// activation of the version; a version no server runs any more has nothing
// to be consistent with.

// CommitFetcher reads the artifact of a Git repository at a commit (its
// sub-directory sub when not empty): the content a moved tag had when it
// was first activated. source.GitArtifacts is the real one.
type CommitFetcher interface {
	ArtifactAt(ctx context.Context, url, commit, sub string) (*tree.Tree, error)
}

// TagPin is a Git-tag artifact whose tag moved after its version was first
// activated: the version stays on Pinned instead of Moved.
type TagPin struct {
	App, Version string
	URL          string
	Pinned       string // the commit of the first activation
	Moved        string // the commit the tag names now
	// Err is set when the pinned commit cannot be read: servers not yet
	// on the version are held rather than given the moved content.
	Err error
}

// firstActivation is the earliest activation of a version recorded in the
// markers of the fleet.
type firstActivation struct {
	commit string
	at     time.Time
}

// firstActivations reads, by app and version, the commit of the earliest
// activation of every Git-tag release recorded on the observed servers. A
// marker without a time counts after every one with a time; equal times
// fall to the smaller commit, so the choice does not depend on map order.
func firstActivations(o *plan.Observed) map[[2]string]firstActivation {
	out := map[[2]string]firstActivation{}
	for _, st := range o.Servers {
		if st == nil {
			continue
		}
		for app, as := range st.Apps {
			m := as.Marker
			if m == nil || m.Commit == "" || m.Release == "" {
				continue
			}
			k := [2]string{app, fleet.VersionOf(m.Release)}
			cur, ok := out[k]
			if !ok || earlier(m.ActivatedAt, m.Commit, cur.at, cur.commit) {
				out[k] = firstActivation{commit: m.Commit, at: m.ActivatedAt}
			}
		}
	}
	return out
}

func earlier(at time.Time, commit string, than time.Time, thanCommit string) bool {
	switch {
	case at.IsZero() != than.IsZero():
		return !at.IsZero()
	case !at.Equal(than):
		return at.Before(than)
	}
	return commit < thanCommit
}

// PinMovedTags returns d with the release of every Git-tag artifact whose
// tag names another commit than the version's first activation on the
// observed fleet replaced by the release at that first commit, so that
// every server of the version gets the same content. When the first commit
// cannot be read (the fetcher is nil or fails), the release is left as it
// is and the servers not yet on a release of the version are held. d
// itself is not changed; without moved tags it is returned as it is. The
// pins found are returned, sorted by app and version.
func PinMovedTags(ctx context.Context, d *plan.Desired, o *plan.Observed, fetch CommitFetcher) (*plan.Desired, []TagPin) {
	firsts := firstActivations(o)
	out := d
	type found struct {
		pin TagPin
		rel fleet.Release
	}
	byVersion := map[[2]string]*found{}
	for _, r := range d.Spec.Releases {
		rel, ok := d.Releases[r.Key()]
		if !ok || rel.Commit == "" {
			continue // not a Git artifact
		}
		vk := [2]string{r.App, rel.Version}
		first, ok := firsts[vk]
		if !ok || first.commit == rel.Commit {
			continue
		}
		app := d.Spec.App(r.App)
		f := byVersion[vk]
		if f == nil {
			f = &found{pin: TagPin{App: r.App, Version: rel.Version, URL: app.Artifact.Git, Pinned: first.commit, Moved: rel.Commit}}
			if fetch == nil {
				f.pin.Err = fmt.Errorf("no fetcher reads Git artifacts at a commit")
			} else {
				f.rel, f.pin.Err = pinnedRelease(ctx, fetch, app, rel.Version, first.commit)
			}
			byVersion[vk] = f
		}
		if out == d {
			out = withPins(d)
		}
		if f.pin.Err != nil {
			out.Pins.Hold[r.Key()] = fmt.Sprintf("tag %s moved from commit %.12s (first activated) to %.12s, and %.12s cannot be read (%v): not deployed, so that %s does not run two contents; release it under a new tag",
				rel.Version, first.commit, rel.Commit, first.commit, f.pin.Err, rel.Version)
			continue
		}
		out.Releases[r.Key()] = f.rel
		out.Pins.Note[r.Key()] = fmt.Sprintf("tag %s moved from commit %.12s to %.12s after its first activation: pinned to %.12s",
			rel.Version, first.commit, rel.Commit, first.commit)
	}
	pins := make([]TagPin, 0, len(byVersion))
	for _, f := range byVersion {
		pins = append(pins, f.pin)
	}
	sort.Slice(pins, func(i, j int) bool {
		if pins[i].App != pins[j].App {
			return pins[i].App < pins[j].App
		}
		return pins[i].Version < pins[j].Version
	})
	return out, pins
}

// withPins is a copy of d whose releases and pins may be changed.
func withPins(d *plan.Desired) *plan.Desired {
	cp := *d
	cp.Releases = make(map[spec.Key]fleet.Release, len(d.Releases))
	for k, v := range d.Releases {
		cp.Releases[k] = v
	}
	cp.Pins = &plan.Pins{Hold: map[spec.Key]string{}, Note: map[spec.Key]string{}}
	return &cp
}

// pinnedRelease reads the release of version at commit and checks it like
// any artifact.
func pinnedRelease(ctx context.Context, fetch CommitFetcher, app *spec.App, version, commit string) (fleet.Release, error) {
	t, err := fetch.ArtifactAt(ctx, app.Artifact.Git, commit, app.Artifact.Path)
	if err != nil {
		return fleet.Release{}, err
	}
	if problems := checkArtifact("commit "+commit[:12], t); len(problems) > 0 {
		return fleet.Release{}, problems[0]
	}
	rel := fleet.NewRelease(version, t)
	rel.Commit = commit
	return rel, nil
}
