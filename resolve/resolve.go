// Package resolve turns a snapshot of the desired-state repository into a
// plan.Desired: the desired state loaded and validated, and the artifact of
// every Release cut out of the snapshot (or fetched from its Git tag),
// checked and named by its digest. Its errors say what a retry would do:
// problems of the desired state itself are Stalling (nothing changes until
// the next commit) and make it invalid; an artifact that could not be
// fetched (a remote down) is Transient, and one refused (a credential) is
// Stalling, and neither makes the desired state invalid.
package resolve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/internal/retry"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/tree"
)

// ArtifactFetcher gets the artifact of an App whose versions are tags of a
// Git repository: the tree at the tag (its sub-directory sub, if set) and
// the commit the tag points to. source.GitArtifacts is the real one.
type ArtifactFetcher interface {
	Artifact(ctx context.Context, url, tag, sub string) (*tree.Tree, string, error)
}

// Error is a desired state that could not be resolved: the problems of
// the desired state itself (Invalid), and the artifacts that could not be
// fetched, each at the file:line of the Release that needs it.
type Error struct {
	Invalid spec.Errors
	Fetch   spec.Errors
}

func (e *Error) Error() string {
	all := append(append(spec.Errors{}, e.Invalid...), e.Fetch...)
	return spec.Capped(all).Error()
}

// Unwrap gives the problems of the desired state, for errors.As with
// spec.Errors.
func (e *Error) Unwrap() error {
	if len(e.Invalid) == 0 {
		return nil
	}
	return e.Invalid
}

// IsInvalid reports whether err is (or holds) a problem of the desired
// state itself, as opposed to an artifact that could not be fetched.
func IsInvalid(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return len(e.Invalid) > 0
	}
	var se spec.Errors
	return errors.As(err, &se)
}

// Resolve loads the desired state of a snapshot with the limits and checks
// of opts and resolves every Release's artifact: directories of the
// snapshot, or Git tags through fetch. With a nil fetch, Git artifacts are
// left unresolved (validation without network): their Releases are absent
// from Desired.Releases. The error is a *Error marked with its retry kind
// (package retry).
func Resolve(ctx context.Context, s *source.Snapshot, fetch ArtifactFetcher, opts spec.Options) (*plan.Desired, error) {
	sd, lerr := opts.Load(spec.FilesOf(s.Tree))
	if lerr != nil {
		var errs spec.Errors
		if errors.As(lerr, &errs) {
			return nil, retry.Stalling(&Error{Invalid: errs})
		}
		return nil, retry.Stalling(lerr)
	}
	d := &plan.Desired{Revision: s.Revision, Origin: s.Origin, Author: s.Author, Spec: sd, Releases: map[spec.Key]fleet.Release{}}
	res := &Error{}
	kind := retry.KindTransient
	r := resolver{ctx: ctx, snap: s, fetch: fetch, cache: map[string]artifact{}}
	for _, rel := range sd.Releases {
		a, ok := r.artifact(sd.App(rel.App), rel.Version)
		if !ok {
			continue
		}
		for _, p := range a.invalid {
			res.Invalid = append(res.Invalid, &spec.Error{Pos: rel.PosOf("version"), Msg: fmt.Sprintf("%s %s: artifact %s", rel.App, rel.Version, p)})
		}
		if a.fetchErr != nil {
			res.Fetch = append(res.Fetch, &spec.Error{Pos: rel.PosOf("version"), Msg: fmt.Sprintf("%s %s: artifact %s", rel.App, rel.Version, a.fetchErr)})
			if a.kind == retry.KindStalling {
				kind = retry.KindStalling
			}
		}
		if len(a.invalid) == 0 && a.fetchErr == nil {
			fr := fleet.NewRelease(rel.Version, a.tree)
			fr.Commit = a.commit
			d.Releases[rel.Key()] = fr
		}
	}
	d.DB, res.Invalid = databaseChanges(s, sd, res.Invalid)
	switch {
	case len(res.Invalid) > 0:
		return nil, retry.Stalling(res)
	case len(res.Fetch) > 0 && kind == retry.KindStalling:
		return nil, retry.Stalling(res)
	case len(res.Fetch) > 0:
		return nil, retry.Transient(res)
	}
	return d, nil
}

// artifact is one resolved artifact: its tree and commit, or why not.
type artifact struct {
	tree     *tree.Tree
	commit   string
	invalid  []error    // problems of the artifact's content, or of its name
	fetchErr error      // it could not be fetched
	kind     retry.Kind // of fetchErr
}

// resolver resolves each artifact once: several environments often
// release the same version.
type resolver struct {
	ctx   context.Context
	snap  *source.Snapshot
	fetch ArtifactFetcher
	cache map[string]artifact
}

// artifact resolves an app's artifact at version; false when it is left
// unresolved (a Git artifact without a fetcher).
func (r *resolver) artifact(app *spec.App, version string) (artifact, bool) {
	key := app.Artifact.Git + "\x00" + app.Artifact.Path + "\x00" + version
	if a, ok := r.cache[key]; ok {
		return a, true
	}
	var a artifact
	if app.Artifact.Git != "" {
		if r.fetch == nil {
			return a, false
		}
		t, commit, err := r.fetch.Artifact(r.ctx, app.Artifact.Git, version, app.Artifact.Path)
		switch {
		case err == nil:
			label := "tag " + version
			if app.Artifact.Path != "" {
				label += " " + app.Artifact.Path
			}
			a = artifact{tree: t, commit: commit, invalid: checkArtifact(label, t)}
		case source.IsContentProblem(err):
			// The tag does not exist, or its tree cannot be used: a
			// problem of what the desired state names.
			a.invalid = []error{err}
		default:
			a.fetchErr, a.kind = err, source.RetryKind(err)
		}
	} else {
		dir := app.Artifact.Dir(version)
		t, err := r.snap.Tree.Sub(dir)
		if err != nil {
			a.invalid = []error{err}
		} else {
			a = artifact{tree: t, invalid: checkArtifact(dir, t)}
		}
	}
	r.cache[key] = a
	return a, true
}

// databaseChanges reads the SQL of every database change from the
// snapshot and names each change by its checksum; problems are added to
// invalid.
func databaseChanges(s *source.Snapshot, sd *spec.Desired, invalid spec.Errors) (map[spec.Key][]plan.DBChange, spec.Errors) {
	out := map[spec.Key][]plan.DBChange{}
	for _, r := range sd.Releases {
		if r.Database == nil {
			continue
		}
		for i, c := range r.Database.Changes {
			dc := plan.DBChange{DBChange: c}
			if c.SQL != "" {
				e := s.Tree.Get(c.SQL)
				if e == nil || e.Kind != tree.File {
					invalid = append(invalid, &spec.Error{Pos: r.PosOf(fmt.Sprintf("database.changes.%d.sql", i)), Msg: fmt.Sprintf("database change %s: %s is not a file of the repository", c.ID, c.SQL)})
					continue
				}
				dc.SQLText = string(e.Data)
			}
			sum := sha256.Sum256([]byte(dc.SQLText + "\x00" + c.Command + "\x00" + c.Server))
			dc.Checksum = hex.EncodeToString(sum[:])
			out[r.Key()] = append(out[r.Key()], dc)
		}
	}
	return out, invalid
}

// checkArtifact checks that a tree is safe to place on servers; problems
// are named by label (the artifact's directory or tag) and path.
func checkArtifact(label string, t *tree.Tree) []error {
	if t.Len() == 0 {
		return []error{fmt.Errorf("%s is empty", label)}
	}
	var out []error
	for _, p := range t.Check() {
		out = append(out, fmt.Errorf("%s/%w", label, p))
	}
	return out
}
