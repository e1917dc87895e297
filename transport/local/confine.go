package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/transport"
)

// localRoot is a root directory of a local server, opened with os.Root so
// that every operation through it stays inside: a symbolic link below it is
// followed only while it resolves inside, and an absolute one not at all
// (its target names a place of this machine, not of the server).
type localRoot struct {
	*os.Root
	name string // the root as the server names it (deployTo, an environmentFiles root)
	dir  string // the root on this machine
}

// openRoot opens the server's directory root for a write of p. With mk a
// missing root is made first, with its parents. It is refused when it is a
// symbolic link; fs.ErrNotExist when it is missing and mk is false.
func (l *Local) openRoot(srv *spec.Server, root, p string, mk bool) (*localRoot, error) {
	dir := l.Path(srv, root)
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) && mk {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil, transport.RootIsLink(p, root)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: %s is not a directory", p, root)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	// What was opened must be the directory looked at: not a link put
	// there in between.
	if rfi, err := r.Stat("."); err != nil || !os.SameFile(fi, rfi) {
		r.Close()
		return nil, transport.RootIsLink(p, root)
	}
	return &localRoot{Root: r, name: root, dir: dir}, nil
}

// check returns err, or a *RootError when what made the operation on rel
// fail is a symbolic link on the way that does not resolve inside the root.
func (r *localRoot) check(err error, rel string) error {
	if err == nil {
		return nil
	}
	p := path.Join(r.name, rel)
	if link := r.linkOut(rel); link != "" {
		return transport.LinkLeadsOut(p, link, r.name)
	}
	if strings.Contains(err.Error(), "path escapes from parent") {
		// os.Root saw an escape that is gone by now.
		return &transport.RootError{Path: p, Reason: "a symbolic link on the way leads out of " + r.name}
	}
	return err
}

// linkOut names the first symbolic link on the way to rel that os.Root
// would not follow: one that resolves outside the root, to nothing, or is
// absolute. It only explains a refusal; os.Root made it.
func (r *localRoot) linkOut(rel string) string {
	realRoot, err := filepath.EvalSymlinks(r.dir)
	if err != nil {
		return ""
	}
	p := ""
	for _, c := range strings.Split(rel, "/") {
		p = path.Join(p, c)
		host := filepath.Join(r.dir, filepath.FromSlash(p))
		fi, err := os.Lstat(host)
		if err != nil {
			return ""
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		target, _ := os.Readlink(host)
		resolved, err := filepath.EvalSymlinks(host)
		if err != nil || filepath.IsAbs(target) || (resolved != realRoot && !strings.HasPrefix(resolved, realRoot+string(filepath.Separator))) {
			return path.Join(r.name, p)
		}
	}
	return ""
}

// writeAtomic writes data to a temporary file beside rel, syncs it, gives
// it perm exactly (whatever the umask) and renames it over rel.
func (r *localRoot) writeAtomic(rel string, data []byte, perm fs.FileMode) error {
	dir, base := path.Split(rel)
	dir = path.Clean("./" + dir)
	tmp := path.Join(dir, fleet.TmpPrefix+base+"-"+transport.RandomSuffix())
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return r.check(err, rel)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.check(r.Rename(tmp, rel), rel)
	}
	if err != nil {
		r.Remove(tmp)
		return err
	}
	return r.check(r.syncDir(dir), rel)
}

// syncDir makes the entries of the directory rel durable; errors are
// the caller's to check.
func (r *localRoot) syncDir(rel string) error {
	d, err := r.Open(rel)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// removeAll removes rel with everything in it, even when the artifact made
// some of its directories read-only.
func (r *localRoot) removeAll(rel string) error {
	fs.WalkDir(r.FS(), rel, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			r.Chmod(p, 0o700)
		}
		return nil
	})
	return r.check(r.RemoveAll(rel), rel)
}

// readDir lists the directory rel; a missing one is empty.
func (r *localRoot) readDir(rel string) ([]fs.DirEntry, error) {
	d, err := r.Open(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, r.check(err, rel)
	}
	defer d.Close()
	return d.ReadDir(-1)
}
