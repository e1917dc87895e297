package reconcile

import (
	"context"
	"fmt"

	"github.com/gitfleet/gitfleet/executor"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/tree"
)

// Desired is the validated desired state at one revision, with the artifact
// of every Release cut out of the snapshot, checked and named by digest.
type Desired struct {
	Revision string
	Origin   string
	Spec     *spec.Desired
	Releases map[spec.Key]executor.Release
}

// ArtifactFetcher gets the artifact of an App whose versions are tags of a
// Git repository: the tree at the tag (its sub-directory sub, if set) and
// the commit the tag points to. source.GitArtifacts is the real one.
type ArtifactFetcher interface {
	Artifact(ctx context.Context, url, tag, sub string) (*tree.Tree, string, error)
}

// Resolve loads the desired state of a snapshot and resolves every
// Release's artifact: directories of the snapshot, or Git tags through
// fetch. Problems are returned as spec.Errors, each at the file:line that
// caused it; a Release pinned to a tag that does not exist is one. With a
// nil fetch, Git artifacts are left unresolved (validation without
// network): their Releases are absent from Desired.Releases.
func Resolve(ctx context.Context, s *source.Snapshot, fetch ArtifactFetcher) (*Desired, error) {
	sd, lerr := spec.Load(spec.FilesOf(s.Tree))
	if lerr != nil {
		return nil, lerr
	}
	d := &Desired{Revision: s.Revision, Origin: s.Origin, Spec: sd, Releases: map[spec.Key]executor.Release{}}
	var errs spec.Errors
	byDir := map[string]*tree.Tree{}
	for _, r := range sd.Releases {
		app := sd.App(r.App)
		if app.Artifact.Git != "" {
			if fetch == nil {
				continue
			}
			t, commit, err := fetch.Artifact(ctx, app.Artifact.Git, r.Version, app.Artifact.Path)
			if err == nil {
				if problems := t.Check(); len(problems) > 0 {
					err = problems[0]
				}
			}
			if err != nil {
				errs = append(errs, &spec.Error{Pos: r.PosOf("version"), Msg: fmt.Sprintf("%s %s: artifact %v", r.App, r.Version, err)})
				continue
			}
			rel := executor.NewRelease(r.Version, t)
			rel.Commit = commit
			d.Releases[r.Key()] = rel
			continue
		}
		dir := app.Artifact.Dir(r.Version)
		t, ok := byDir[dir]
		if !ok {
			var problems []error
			t, problems = artifact(s.Tree, dir)
			for _, p := range problems {
				errs = append(errs, &spec.Error{Pos: r.PosOf("version"), Msg: fmt.Sprintf("%s %s: artifact %s", r.App, r.Version, p)})
			}
			if len(problems) > 0 {
				continue
			}
			byDir[dir] = t
		}
		d.Releases[r.Key()] = executor.NewRelease(r.Version, t)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return d, nil
}

// artifact cuts a directory out of the snapshot and checks it is safe to
// place on servers.
func artifact(snap *tree.Tree, dir string) (*tree.Tree, []error) {
	t, err := snap.Sub(dir)
	if err != nil {
		return nil, []error{err}
	}
	if t.Len() == 0 {
		return nil, []error{fmt.Errorf("%s is empty", dir)}
	}
	var out []error
	for _, p := range t.Check() {
		out = append(out, fmt.Errorf("%s/%w", dir, p))
	}
	return t, out
}
