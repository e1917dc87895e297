package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/gitfleet/gitfleet/tree"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// GitArtifacts fetches app releases from Git tags: the artifact of version
// v is the tree of tag v (or a sub-directory of it). One bare repository per
// URL is kept in Dir and fetched into, tag by tag, shallow.
type GitArtifacts struct {
	Dir string
	// Auth gives the credentials of a URL; nil means none.
	Auth    func(url string) (*GitAuth, error)
	Timeout time.Duration
	Limits  tree.Limits

	mu      sync.Mutex
	repos   map[string]*gitRepo
	secrets map[string][]string   // by URL, for redaction
	trees   map[string]*tree.Tree // by commit and sub-directory
}

// maxCachedTrees bounds the trees kept between resolutions.
const maxCachedTrees = 64

// Artifact returns the tree of tag in the repository at url (its
// sub-directory sub when not empty) and the commit the tag points to.
func (a *GitArtifacts) Artifact(ctx context.Context, url, tag, sub string) (*tree.Tree, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, err := a.repo(url)
	if err != nil {
		return nil, "", err
	}
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	refs, err := r.list(ctx)
	if err != nil {
		a.forgetRefused(url, err)
		return nil, "", redactErr(fmt.Errorf("list tags of %s: %w", url, err), url, a.secrets[url]...)
	}
	name := plumbing.NewTagReferenceName(tag)
	var hash plumbing.Hash
	for _, ref := range refs {
		if ref.Name() == name && ref.Type() == plumbing.HashReference {
			hash = ref.Hash()
		}
	}
	if hash.IsZero() {
		return nil, "", &PollError{Reason: ReasonNotFound, Err: fmt.Errorf("tag %s not found in %s", tag, RedactURL(url))}
	}
	if !r.hasObject(hash) {
		spec := gitconfig.RefSpec("+" + name.String() + ":" + name.String())
		if err := r.fetch(ctx, []gitconfig.RefSpec{spec}, 1); err != nil {
			a.forgetRefused(url, err)
			return nil, "", redactErr(fmt.Errorf("fetch tag %s of %s: %w", tag, url, err), url, a.secrets[url]...)
		}
	}
	commit := hash
	if t, err := r.r.TagObject(hash); err == nil {
		commit = t.Target
	}
	key := commit.String() + "\x00" + sub
	if t, ok := a.trees[key]; ok {
		return t, commit.String(), nil
	}
	t, err := r.readTree(commit, sub, a.Limits)
	if err != nil {
		return nil, "", treeError(fmt.Errorf("tag %s of %s: %w", tag, RedactURL(url), err))
	}
	a.keep(key, t)
	return t, commit.String(), nil
}

// ArtifactAt returns the tree of commit in the repository at url (its
// sub-directory sub when not empty): the content a version had when its
// tag named that commit, after the tag moved. The commit is read from the
// local repository when a fetch of the tag brought it there, else fetched
// by its hash; a remote that no longer has it, or does not serve single
// commits, is an error.
func (a *GitArtifacts) ArtifactAt(ctx context.Context, url, commit, sub string) (*tree.Tree, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h := plumbing.NewHash(commit)
	if len(commit) != 40 || h.String() != commit {
		return nil, fmt.Errorf("commit %q: want 40 hex digits", commit)
	}
	key := commit + "\x00" + sub
	if t, ok := a.trees[key]; ok {
		return t, nil
	}
	r, err := a.repo(url)
	if err != nil {
		return nil, err
	}
	if !r.hasCommit(h) {
		timeout := a.Timeout
		if timeout <= 0 {
			timeout = 60 * time.Second
		}
		fctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		spec := gitconfig.RefSpec(commit + ":refs/gitfleet/pins/" + commit)
		err := r.fetch(fctx, []gitconfig.RefSpec{spec}, 1)
		if err == nil && !r.hasCommit(h) {
			err = plumbing.ErrObjectNotFound
		}
		if err != nil {
			return nil, redactErr(fmt.Errorf("fetch commit %.12s of %s: %w", commit, url, err), url, a.secrets[url]...)
		}
	}
	t, err := r.readTree(h, sub, a.Limits)
	if err != nil {
		return nil, treeError(fmt.Errorf("commit %.12s of %s: %w", commit, RedactURL(url), err))
	}
	a.keep(key, t)
	return t, nil
}

// forgetRefused drops the repository of url when its credentials were
// refused, so that the next fetch reads them again.
func (a *GitArtifacts) forgetRefused(url string, err error) {
	if classify(err) == ReasonAuth {
		delete(a.repos, url)
	}
}

// keep caches a tree read, by commit and sub-directory.
func (a *GitArtifacts) keep(key string, t *tree.Tree) {
	if len(a.trees) >= maxCachedTrees {
		a.trees = nil
	}
	if a.trees == nil {
		a.trees = map[string]*tree.Tree{}
	}
	a.trees[key] = t
}

func (a *GitArtifacts) repo(url string) (*gitRepo, error) {
	if r, ok := a.repos[url]; ok {
		return r, nil
	}
	var auth *GitAuth
	if a.Auth != nil {
		var err error
		if auth, err = a.Auth(url); err != nil {
			return nil, err
		}
	}
	m, err := auth.method(url)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(url))
	r, err := openGitRepo(filepath.Join(a.Dir, hex.EncodeToString(sum[:8])), url, m, a.Limits.WithDefaults().MaxBytes)
	if err != nil {
		return nil, err
	}
	if a.repos == nil {
		a.repos, a.secrets = map[string]*gitRepo{}, map[string][]string{}
	}
	a.repos[url], a.secrets[url] = r, auth.secrets()
	return r, nil
}

// treeError marks an error reading a tree that was fetched: its content
// cannot be used (too large, unsafe), unless what failed was a read.
func treeError(err error) error {
	if errors.Is(err, ErrTooLarge) {
		return &PollError{Reason: ReasonTooLarge, Err: err}
	}
	if isObjectNotFound(err) {
		return err
	}
	return &PollError{Reason: ReasonTree, Err: err}
}
