package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/gitfleet/gitfleet/tree"
)

// Dir is desired state kept in a directory of the local file system. The
// directory is read whole; version-control metadata (.git) is left out.
type Dir struct {
	Path     string
	Debounce time.Duration // quiet time after a change before reading
	Limits   tree.Limits
	Log      *slog.Logger
}

// skipDirs are never read or watched.
var skipDirs = []string{".git", ".hg", ".svn"}

// Snapshot reads the directory once.
func (d *Dir) Snapshot(ctx context.Context) (*Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root, err := filepath.EvalSymlinks(d.Path)
	if err != nil {
		return nil, fmt.Errorf("read directory source: %w", err)
	}
	t, err := tree.ReadDir(root, d.Limits, skipDirs...)
	if err != nil {
		return nil, fmt.Errorf("read directory source: %w", err)
	}
	return &Snapshot{Revision: t.Digest(), Origin: "directory " + d.Path, Tree: t, Read: time.Now()}, nil
}

// Watch reports the directory's content now and after every change, until
// ctx ends. Bursts of writes are debounced into one read; a read during which
// the directory changed again is thrown away and retried, so a snapshot is
// never a mix of two states. Every rescan interval the directory is read
// again in case an event was missed (an overflowing inotify queue, a root
// that was replaced). Unchanged content is not reported twice.
func (d *Dir) Watch(ctx context.Context, rescan time.Duration, report func(Update)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", d.Path, err)
	}
	defer w.Close()
	if err := d.addWatches(w, d.root()); err != nil {
		report(Update{Err: err})
	}

	last := ""
	// read takes a snapshot and reports it unless the directory changed
	// while it was being read; then it reports false and waits for quiet.
	read := func() bool {
		s, err := d.Snapshot(ctx)
		if d.drain(w) {
			return false
		}
		switch {
		case ctx.Err() != nil:
		case err != nil:
			last = ""
			report(Update{Err: err})
		case s.Revision != last:
			last = s.Revision
			report(Update{Snapshot: s})
		}
		return true
	}

	debounce := time.NewTimer(0) // read at once on start
	defer debounce.Stop()
	tick := time.NewTicker(rescan)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("watch: event channel closed")
			}
			d.handle(w, ev)
			debounce.Reset(d.Debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("watch: error channel closed")
			}
			d.log().Warn("watch directory source", "path", d.Path, "err", err)
			debounce.Reset(d.Debounce)
		case <-tick.C:
			// Watches may have been lost with a replaced directory.
			if err := d.addWatches(w, d.root()); err != nil {
				d.log().Warn("watch directory source", "path", d.Path, "err", err)
			}
			if !read() {
				debounce.Reset(d.Debounce)
			}
		case <-debounce.C:
			if !read() {
				debounce.Reset(d.Debounce)
			}
		}
	}
}

// drain consumes pending events and reports whether there were any.
func (d *Dir) drain(w *fsnotify.Watcher) bool {
	changed := false
	for {
		select {
		case ev := <-w.Events:
			d.handle(w, ev)
			changed = true
		default:
			return changed
		}
	}
}

// handle adds watches for directories that appear.
func (d *Dir) handle(w *fsnotify.Watcher, ev fsnotify.Event) {
	if !ev.Has(fsnotify.Create) {
		return
	}
	if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
		if err := d.addWatches(w, ev.Name); err != nil {
			d.log().Warn("watch new directory", "path", ev.Name, "err", err)
		}
	}
}

// addWatches watches dir and every directory below it.
func (d *Dir) addWatches(w *fsnotify.Watcher, dir string) error {
	root := d.root()
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return fmt.Errorf("watch %s: %w", p, err)
			}
			return nil // vanished while walking
		}
		if !e.IsDir() {
			return nil
		}
		for _, s := range skipDirs {
			// Only the source's root may have a skipped name; dir may be
			// a .git that just appeared.
			if e.Name() == s && p != root {
				return filepath.SkipDir
			}
		}
		if err := w.Add(p); err != nil {
			return fmt.Errorf("watch %s: %w", p, err)
		}
		return nil
	})
}

// root is the source directory with symbolic links resolved, so that a
// symlinked root is read and watched like a real one.
func (d *Dir) root() string {
	if r, err := filepath.EvalSymlinks(d.Path); err == nil {
		return r
	}
	return d.Path
}

func (d *Dir) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}
