// Package local is the transport that makes every server a directory of
// this machine: Root/<server name>. Every write goes through os.Root, so
// that it stays inside its root (docs/security.md).
package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/internal/proc"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/transport"
	"github.com/gitfleet/gitfleet/tree"
)

// Local is the transport that makes every server a directory of this
// machine, Root/<server name>; a server's deployTo /srv/web is
// Root/<server name>/srv/web. Commands run here, with sh, in that tree.
type Local struct {
	Root string
}

// Path maps a server path into the server's directory.
func (l *Local) Path(srv *spec.Server, p string) string {
	return filepath.Join(l.Root, srv.Name, filepath.FromSlash(p))
}

// Inspect reads current, releases/ and the marker of every deployTo. A
// server directory that does not exist yet is an empty server; one that
// cannot be read is unreachable.
func (l *Local) Inspect(ctx context.Context, srv *spec.Server, deployTos []string) (map[string]*fleet.AppState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root := filepath.Join(l.Root, srv.Name)
	if fi, err := os.Stat(root); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("server directory %s is not a directory", root)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	out := make(map[string]*fleet.AppState, len(deployTos))
	for _, dt := range deployTos {
		st, err := inspectDir(l.Path(srv, dt))
		if err != nil {
			return nil, err
		}
		out[dt] = st
	}
	return out, nil
}

func inspectDir(dir string) (*fleet.AppState, error) {
	st := &fleet.AppState{}
	target, err := os.Readlink(filepath.Join(dir, "current"))
	switch {
	case err == nil:
		st.Current, st.CurrentTarget = fleet.ParseCurrent(target)
	case errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, syscall.EINVAL):
		st.CurrentTarget = "(not a symlink)"
	default:
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(dir, "releases"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			st.Staged = append(st.Staged, e.Name())
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, ".gitfleet", "state.json"))
	switch {
	case err == nil:
		st.SetMarker(fleet.DecodeMarker(data))
	case errors.Is(err, fs.ErrNotExist):
	default:
		st.MarkerErr = err.Error()
	}
	return st, nil
}

// Stage copies the tree to releases/<id> through a temporary directory,
// every step inside deployTo.
func (l *Local) Stage(ctx context.Context, srv *spec.Server, deployTo, id string, t *tree.Tree) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	final := path.Join("releases", id)
	r, err := l.openRoot(srv, deployTo, path.Join(deployTo, final), true)
	if err != nil {
		return err
	}
	defer r.Close()
	if fi, err := r.Lstat(final); err == nil {
		if fi.IsDir() {
			return nil
		}
		return fmt.Errorf("%s is a %s, not a release directory", path.Join(deployTo, final), kindOf(fi))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return r.check(err, final)
	}
	if err := r.MkdirAll("releases", 0o755); err != nil {
		return r.check(err, final)
	}
	tmp := path.Join("releases", fleet.TmpPrefix+id+"-"+transport.RandomSuffix())
	if err := r.Mkdir(tmp, 0o755); err != nil {
		return r.check(err, final)
	}
	sub, err := r.OpenRoot(tmp)
	if err == nil {
		err = t.WriteToRoot(sub)
		sub.Close()
	}
	if err != nil {
		r.removeAll(tmp)
		return r.check(err, final)
	}
	if err := r.Rename(tmp, final); err != nil {
		r.removeAll(tmp)
		if fi, serr := r.Lstat(final); serr == nil && fi.IsDir() {
			return nil // staged meanwhile
		}
		return r.check(err, final)
	}
	return nil
}

func kindOf(fi fs.FileInfo) string {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return "symbolic link"
	}
	return "file"
}

// Switch replaces current with a new link by rename, or removes it.
func (l *Local) Switch(ctx context.Context, srv *spec.Server, deployTo, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := l.openRoot(srv, deployTo, path.Join(deployTo, "current"), false)
	if errors.Is(err, fs.ErrNotExist) && id == "" {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.Close()
	if id == "" {
		if err := r.Remove("current"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return r.check(err, "current")
		}
		return nil
	}
	// The release's time says when it was last made current, so that
	// pruning removes the ones used longest ago.
	rel := path.Join("releases", id)
	now := time.Now()
	if err := r.Chtimes(rel, now, now); err != nil {
		return fmt.Errorf("release %s: %w", id, r.check(err, rel))
	}
	tmp := fleet.TmpPrefix + "current-" + transport.RandomSuffix()
	if err := r.Symlink("releases/"+id, tmp); err != nil {
		return err
	}
	if err := r.Rename(tmp, "current"); err != nil {
		r.Remove(tmp)
		return err
	}
	return r.syncDir(".")
}

// WriteMarker writes state.json through a temporary file and rename.
func (l *Local) WriteMarker(ctx context.Context, srv *spec.Server, deployTo string, m *fleet.Marker) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	const marker = ".gitfleet/state.json"
	r, err := l.openRoot(srv, deployTo, path.Join(deployTo, marker), true)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.MkdirAll(".gitfleet", 0o755); err != nil {
		return r.check(err, marker)
	}
	data, err := fleet.EncodeMarker(m)
	if err != nil {
		return err
	}
	return r.writeAtomic(marker, data, 0o644)
}

// Run runs command with sh in dir. It is killed with its process group when
// ctx ends.
func (l *Local) Run(ctx context.Context, srv *spec.Server, dir string, env []string, command string) ([]byte, error) {
	cmd := proc.Shell(ctx, command, 5*time.Second, env...)
	cmd.Dir = l.Path(srv, dir)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil && err != nil {
		return out, fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return out, err
}

// Prune removes releases beyond max, oldest first, never one in keep, and
// leftovers of interrupted stages, every removal inside deployTo.
func (l *Local) Prune(ctx context.Context, srv *spec.Server, deployTo string, keep []string, max int) error {
	r, err := l.openRoot(srv, deployTo, path.Join(deployTo, "releases"), false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.Close()
	entries, err := r.readDir("releases")
	if err != nil {
		return err
	}
	kept := map[string]bool{}
	for _, k := range keep {
		kept[k] = true
	}
	type rel struct {
		name string
		mod  time.Time
	}
	var candidates []rel
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, fleet.TmpPrefix) {
			errs = append(errs, r.removeAll(path.Join("releases", name)))
			continue
		}
		if !e.IsDir() || kept[name] {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		candidates = append(candidates, rel{name, fi.ModTime()})
	}
	// Leftovers of an interrupted switch or state write.
	for _, dir := range []string{".", ".gitfleet"} {
		leftovers, err := r.readDir(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range leftovers {
			if strings.HasPrefix(e.Name(), fleet.TmpPrefix) {
				errs = append(errs, r.check(r.Remove(path.Join(dir, e.Name())), path.Join(dir, e.Name())))
			}
		}
	}
	room := max - len(keep)
	if room < 0 {
		room = 0
	}
	if len(candidates) <= room {
		return errors.Join(errs...)
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].mod.After(candidates[j].mod) })
	for _, c := range candidates[room:] {
		if err := ctx.Err(); err != nil {
			return err
		}
		errs = append(errs, r.removeAll(path.Join("releases", c.name)))
	}
	return errors.Join(errs...)
}
