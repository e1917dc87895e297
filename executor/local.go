package executor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/gitfleet/gitfleet/spec"
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
func (l *Local) Inspect(ctx context.Context, srv *spec.Server, deployTos []string) (map[string]*AppState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root := filepath.Join(l.Root, srv.Name)
	if fi, err := os.Stat(root); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("server directory %s is not a directory", root)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	out := make(map[string]*AppState, len(deployTos))
	for _, dt := range deployTos {
		st, err := inspectDir(l.Path(srv, dt))
		if err != nil {
			return nil, err
		}
		out[dt] = st
	}
	return out, nil
}

func inspectDir(dir string) (*AppState, error) {
	st := &AppState{}
	target, err := os.Readlink(filepath.Join(dir, "current"))
	switch {
	case err == nil:
		st.Current, st.CurrentTarget = parseCurrent(target)
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
		m := &Marker{}
		if jerr := json.Unmarshal(data, m); jerr != nil {
			st.MarkerErr = "state.json: " + jerr.Error()
		} else {
			st.Marker = m
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		st.MarkerErr = err.Error()
	}
	return st, nil
}

// parseCurrent turns the target of current into a release ID, or keeps the
// raw target when it is not releases/<id>.
func parseCurrent(target string) (id, raw string) {
	if rest, ok := strings.CutPrefix(target, "releases/"); ok && rest != "" && !strings.ContainsRune(rest, '/') && !strings.HasPrefix(rest, ".") {
		return rest, ""
	}
	return "", target
}

// Stage copies the tree to releases/<id> through a temporary directory.
func (l *Local) Stage(ctx context.Context, srv *spec.Server, deployTo, id string, t *tree.Tree) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	releases := filepath.Join(l.Path(srv, deployTo), "releases")
	final := filepath.Join(releases, id)
	if fi, err := os.Stat(final); err == nil && fi.IsDir() {
		return nil
	}
	if err := os.MkdirAll(releases, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(releases, tmpPrefix+id+"-"+randomSuffix())
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return err
	}
	if err := t.WriteTo(tmp); err != nil {
		removeAll(tmp)
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		removeAll(tmp)
		if fi, serr := os.Stat(final); serr == nil && fi.IsDir() {
			return nil // staged meanwhile
		}
		return err
	}
	return nil
}

// Switch replaces current with a new link by rename, or removes it.
func (l *Local) Switch(ctx context.Context, srv *spec.Server, deployTo, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := l.Path(srv, deployTo)
	current := filepath.Join(dir, "current")
	if id == "" {
		if err := os.Remove(current); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	// The release's time says when it was last made current, so that
	// pruning removes the ones used longest ago.
	now := time.Now()
	if err := os.Chtimes(filepath.Join(dir, "releases", id), now, now); err != nil {
		return fmt.Errorf("release %s: %w", id, err)
	}
	tmp := filepath.Join(dir, tmpPrefix+"current-"+randomSuffix())
	if err := os.Symlink("releases/"+id, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, current); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// WriteMarker writes state.json through a temporary file and rename.
func (l *Local) WriteMarker(ctx context.Context, srv *spec.Server, deployTo string, m *Marker) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Join(l.Path(srv, deployTo), ".gitfleet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "state.json"), append(data, '\n'), 0o644)
}

// writeFileAtomic writes data to a temporary file beside name, syncs it and
// renames it over name.
func writeFileAtomic(name string, data []byte, perm fs.FileMode) error {
	tmp := filepath.Join(filepath.Dir(name), tmpPrefix+filepath.Base(name)+"-"+randomSuffix())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(name))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// Run runs command with sh in dir. It is killed with its process group when
// ctx ends.
func (l *Local) Run(ctx context.Context, srv *spec.Server, dir string, env []string, command string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Dir = l.Path(srv, dir)
	cmd.Env = append(baseEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil && err != nil {
		return out, fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return out, err
}

// baseEnv is the part of the daemon's environment a command inherits.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG", "TZ", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// Prune removes releases beyond max, oldest first, never one in keep, and
// leftovers of interrupted stages.
func (l *Local) Prune(ctx context.Context, srv *spec.Server, deployTo string, keep []string, max int) error {
	releases := filepath.Join(l.Path(srv, deployTo), "releases")
	entries, err := os.ReadDir(releases)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
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
		if strings.HasPrefix(name, tmpPrefix) {
			errs = append(errs, removeAll(filepath.Join(releases, name)))
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
	for _, dir := range []string{l.Path(srv, deployTo), filepath.Join(l.Path(srv, deployTo), ".gitfleet")} {
		if leftovers, err := filepath.Glob(filepath.Join(dir, tmpPrefix+"*")); err == nil {
			for _, p := range leftovers {
				errs = append(errs, os.Remove(p))
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
		errs = append(errs, removeAll(filepath.Join(releases, c.name)))
	}
	return errors.Join(errs...)
}

// removeAll removes a release even when the artifact made some of its
// directories read-only.
func removeAll(dir string) error {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
