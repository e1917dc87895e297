package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/gitfleet/gitfleet/tree"
	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// gitRepo is the on-disk bare repository of one remote: fetched into, never
// cloned again per poll, and never checked out. Its file system is bound to
// its directory, so nothing a remote sends can be written outside it.
type gitRepo struct {
	dir  string
	url  string
	auth transport.AuthMethod
	// refsBound and packBound bound what one list or fetch reads from
	// the remote (see remoteBounds).
	refsBound, packBound int64
	r                    *git.Repository
	// blobs holds the content of the last tree read, by blob hash, so that
	// the next read decodes only the blobs that changed.
	blobs map[plumbing.Hash][]byte
}

const remoteName = "origin"

// openGitRepo opens the repository in dir, creating it when missing. A
// repository that points at another URL is started afresh. What its lists
// and fetches read from the remote is bounded relative to maxBytes, the
// bound of the trees read from it.
func openGitRepo(dir, url string, auth transport.AuthMethod, maxBytes int64) (*gitRepo, error) {
	installLimits()
	g := &gitRepo{dir: dir, url: url, auth: auth}
	g.refsBound, g.packBound = remoteBounds(maxBytes)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	r, err := git.Open(g.storage(), nil)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return g, g.init()
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	rem, err := r.Remote(remoteName)
	if err != nil || len(rem.Config().URLs) != 1 || rem.Config().URLs[0] != url {
		return g, g.reset()
	}
	g.r = r
	return g, nil
}

// storage is the repository's object and reference store, bound to its
// directory, with the object count of fetched packs bounded.
func (g *gitRepo) storage() *boundedStorage {
	st := filesystem.NewStorage(osfs.New(g.dir, osfs.WithBoundOS()), cache.NewObjectLRUDefault())
	return &boundedStorage{Storage: st, maxObjects: packObjectsBound(g.packBound), packBound: g.packBound}
}

func (g *gitRepo) init() error {
	r, err := git.Init(g.storage(), nil)
	if err != nil {
		return fmt.Errorf("init %s: %w", g.dir, err)
	}
	if _, err := r.CreateRemote(&gitconfig.RemoteConfig{Name: remoteName, URLs: []string{g.url}}); err != nil {
		return fmt.Errorf("init %s: %w", g.dir, err)
	}
	g.r = r
	return nil
}

// reset throws the repository away and starts an empty one: the fresh clone
// that follows is the fallback when fetching into it fails.
func (g *gitRepo) reset() error {
	entries, err := os.ReadDir(g.dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(g.dir + "/" + e.Name()); err != nil {
			return err
		}
	}
	return g.init()
}

// list asks the remote for its references, with annotated tags peeled.
func (g *gitRepo) list(ctx context.Context) ([]*plumbing.Reference, error) {
	rem, err := g.r.Remote(remoteName)
	if err != nil {
		return nil, err
	}
	l := &readLimit{refs: g.refsBound}
	opts := &git.ListOptions{Auth: g.auth, PeelingOption: git.AppendPeeled}
	if isSSH(g.url) {
		var done func()
		opts.ProxyOptions, done = sshProxy(l)
		defer done()
	}
	refs, err := rem.ListContext(withReadLimit(ctx, l), opts)
	if lerr := l.err(); lerr != nil {
		return nil, lerr
	}
	if err != nil {
		return nil, err
	}
	return refs, nil
}

// fetch fetches refspecs without tags beyond them. depth 0 fetches what is
// missing between what the repository has and the remote's tips.
func (g *gitRepo) fetch(ctx context.Context, specs []gitconfig.RefSpec, depth int) error {
	l := &readLimit{refs: g.refsBound, pack: g.packBound}
	opts := &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   specs,
		Depth:      depth,
		Auth:       g.auth,
		Tags:       git.NoTags,
		Force:      true,
	}
	if isSSH(g.url) {
		var done func()
		opts.ProxyOptions, done = sshProxy(l)
		defer done()
	}
	err := g.r.FetchContext(withReadLimit(ctx, l), opts)
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		g.removePartialPacks()
	}
	if lerr := l.err(); lerr != nil {
		return lerr
	}
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	return err
}

// removePartialPacks removes what a failed fetch left of its pack: go-git
// keeps the temporary file of a pack it could not finish.
func (g *gitRepo) removePartialPacks() {
	dir := filepath.Join(g.dir, "objects", "pack")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "tmp_pack_") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// isShallow reports whether the repository has shallow boundaries.
func (g *gitRepo) isShallow() bool {
	s, err := g.r.Storer.Shallow()
	return err == nil && len(s) > 0
}

// ref returns the hash a local reference points to, zero when missing.
func (g *gitRepo) ref(name plumbing.ReferenceName) plumbing.Hash {
	r, err := g.r.Reference(name, true)
	if err != nil {
		return plumbing.ZeroHash
	}
	return r.Hash()
}

// setRef points a local reference at h.
func (g *gitRepo) setRef(name plumbing.ReferenceName, h plumbing.Hash) error {
	return g.r.Storer.SetReference(plumbing.NewHashReference(name, h))
}

// hasCommit reports whether the commit is in the object store.
func (g *gitRepo) hasCommit(h plumbing.Hash) bool {
	_, err := g.r.CommitObject(h)
	return err == nil
}

// isAncestor reports whether old is reachable from new through parents
// present in the repository. Missing history (a shallow boundary) counts as
// not reachable: a move that cannot be proven a fast-forward is not one.
func (g *gitRepo) isAncestor(old, new plumbing.Hash) bool {
	seen := map[plumbing.Hash]bool{}
	queue := []plumbing.Hash{new}
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		if h == old {
			return true
		}
		if seen[h] {
			continue
		}
		seen[h] = true
		c, err := g.r.CommitObject(h)
		if err != nil {
			continue
		}
		queue = append(queue, c.ParentHashes...)
	}
	return false
}

// readTree reads the tree of a commit (or the sub-directory sub of it)
// straight from the object store into memory.
func (g *gitRepo) readTree(commit plumbing.Hash, sub string, limits tree.Limits) (*tree.Tree, error) {
	limits = limits.WithDefaults()
	c, err := g.r.CommitObject(commit)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", commit, err)
	}
	root, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", commit, err)
	}
	if sub = strings.Trim(path.Clean("/"+sub), "/"); sub != "" {
		root, err = root.Tree(sub)
		if err != nil {
			return nil, fmt.Errorf("commit %s has no directory %s: %w", commit.String()[:12], sub, err)
		}
	}
	var entries []*tree.Entry
	var total int64
	blobs := make(map[plumbing.Hash][]byte, len(g.blobs))
	w := object.NewTreeWalker(root, true, nil)
	defer w.Close()
	for {
		name, e, err := w.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(entries) >= limits.MaxFiles {
			return nil, fmt.Errorf("more than %d entries: %w", limits.MaxFiles, tree.ErrLimit)
		}
		te := &tree.Entry{Path: name}
		switch e.Mode {
		case filemode.Dir:
			te.Kind, te.Perm = tree.Dir, 0o755
		case filemode.Regular, filemode.Deprecated, filemode.Executable:
			te.Kind, te.Perm = tree.File, 0o644
			if e.Mode == filemode.Executable {
				te.Perm = 0o755
			}
			data, ok := g.blobs[e.Hash]
			if !ok {
				blob, err := g.r.BlobObject(e.Hash)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				if total+blob.Size > limits.MaxBytes {
					return nil, fmt.Errorf("more than %d bytes: %w", limits.MaxBytes, tree.ErrLimit)
				}
				if data, err = readBlob(blob); err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
			}
			if total += int64(len(data)); total > limits.MaxBytes {
				return nil, fmt.Errorf("more than %d bytes: %w", limits.MaxBytes, tree.ErrLimit)
			}
			te.Data = data
			blobs[e.Hash] = data
		case filemode.Symlink:
			blob, err := g.r.BlobObject(e.Hash)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			target, err := readBlob(blob)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			te.Kind, te.Target, te.Perm = tree.Symlink, string(target), 0o777
		case filemode.Submodule:
			return nil, fmt.Errorf("%s: submodules are not supported", name)
		default:
			return nil, fmt.Errorf("%s: unsupported file mode %s", name, e.Mode)
		}
		entries = append(entries, te)
	}
	t, err := tree.New(entries)
	if err == nil {
		g.blobs = blobs
	}
	return t, err
}

func readBlob(b *object.Blob) ([]byte, error) {
	r, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// hasObject reports whether any object with hash h is stored.
func (g *gitRepo) hasObject(h plumbing.Hash) bool {
	return g.r.Storer.HasEncodedObject(h) == nil
}

// gitErrExactSHA1NotSupported is go-git's answer when a server refuses to
// serve a single commit by hash.
var gitErrExactSHA1NotSupported = git.ErrExactSHA1NotSupported
