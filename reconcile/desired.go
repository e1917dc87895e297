package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/gitfleet/gitfleet/fleet"

	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/tree"
)

// Desired is the validated desired state at one revision, with the artifact
// of every Release cut out of the snapshot, checked and named by digest.
type Desired struct {
	Revision string
	Origin   string
	// Author is the revision's commit author (Git sources).
	Author   string
	Spec     *spec.Desired
	Releases map[spec.Key]fleet.Release
	// DB are the releases' database changes with their SQL read from the
	// repository and their checksums.
	DB map[spec.Key][]DBChange

	// artifacts is the fetcher the Git artifacts were resolved with, for
	// PinMovedTags; pins is what PinMovedTags found.
	artifacts ArtifactFetcher
	pins      *pinned
}

// DBChange is a database change of a release, ready to apply.
type DBChange struct {
	spec.DBChange
	SQLText  string
	Checksum string
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
	return ResolveWith(ctx, s, fetch, spec.Options{})
}

// ResolveWith is Resolve with the limits and checks of gitfleet.yaml.
func ResolveWith(ctx context.Context, s *source.Snapshot, fetch ArtifactFetcher, opts spec.Options) (*Desired, error) {
	sd, lerr := opts.Load(spec.FilesOf(s.Tree))
	if lerr != nil {
		return nil, lerr
	}
	d := &Desired{Revision: s.Revision, Origin: s.Origin, Author: s.Author, Spec: sd, Releases: map[spec.Key]fleet.Release{}, artifacts: fetch}
	var errs spec.Errors
	// Several environments often release the same version: resolve each
	// artifact once.
	type resolved struct {
		t        *tree.Tree
		commit   string
		problems []error
	}
	cache := map[string]resolved{}
	for _, r := range sd.Releases {
		app := sd.App(r.App)
		key := app.Artifact.Git + "\x00" + app.Artifact.Path + "\x00" + r.Version
		res, ok := cache[key]
		if !ok {
			if app.Artifact.Git != "" {
				if fetch == nil {
					continue
				}
				t, commit, err := fetch.Artifact(ctx, app.Artifact.Git, r.Version, app.Artifact.Path)
				if err != nil {
					res.problems = []error{err}
				} else {
					label := "tag " + r.Version
					if app.Artifact.Path != "" {
						label += " " + app.Artifact.Path
					}
					res = resolved{t: t, commit: commit, problems: checkArtifact(label, t)}
				}
			} else {
				dir := app.Artifact.Dir(r.Version)
				t, err := s.Tree.Sub(dir)
				if err != nil {
					res.problems = []error{err}
				} else {
					res = resolved{t: t, problems: checkArtifact(dir, t)}
				}
			}
			cache[key] = res
		}
		for _, p := range res.problems {
			errs = append(errs, &spec.Error{Pos: r.PosOf("version"), Msg: fmt.Sprintf("%s %s: artifact %s", r.App, r.Version, p)})
		}
		if len(res.problems) == 0 {
			rel := fleet.NewRelease(r.Version, res.t)
			rel.Commit = res.commit
			d.Releases[r.Key()] = rel
		}
	}
	d.DB = map[spec.Key][]DBChange{}
	for _, r := range sd.Releases {
		if r.Database == nil {
			continue
		}
		for i, c := range r.Database.Changes {
			dc := DBChange{DBChange: c}
			if c.SQL != "" {
				e := s.Tree.Get(c.SQL)
				if e == nil || e.Kind != tree.File {
					errs = append(errs, &spec.Error{Pos: r.PosOf(fmt.Sprintf("database.changes.%d.sql", i)), Msg: fmt.Sprintf("database change %s: %s is not a file of the repository", c.ID, c.SQL)})
					continue
				}
				dc.SQLText = string(e.Data)
			}
			sum := sha256.Sum256([]byte(dc.SQLText + "\x00" + c.Command + "\x00" + c.Server))
			dc.Checksum = hex.EncodeToString(sum[:])
			d.DB[r.Key()] = append(d.DB[r.Key()], dc)
		}
	}
	if len(errs) > 0 {
		return nil, spec.Capped(errs)
	}
	return d, nil
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
