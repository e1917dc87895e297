package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/gitfleet/gitfleet/tree"
)

// writeFiles creates the files (path -> content) below root, with their
// parent directories. A path ending in "/" is an empty directory.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fileContent returns the content of the file at p in the snapshot's tree.
func fileContent(s *Snapshot, p string) (string, bool) {
	e := s.Tree.Get(p)
	if e == nil || e.Kind != tree.File {
		return "", false
	}
	return string(e.Data), true
}

func TestDirSnapshotRevisionIsTreeDigest(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"env.yaml": "kind: Environment\n", "apps/web.yaml": "kind: App\n"})
	d := &Dir{Path: root}
	s, err := d.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Revision, s.Tree.Digest(); got != want {
		t.Errorf("revision %s, want the tree digest %s", got, want)
	}
	if got, want := s.Origin, "directory "+root; got != want {
		t.Errorf("origin %q, want %q", got, want)
	}
	if s.Read.IsZero() {
		t.Error("read time not set")
	}
	for p, want := range map[string]string{"env.yaml": "kind: Environment\n", "apps/web.yaml": "kind: App\n"} {
		if got, ok := fileContent(s, p); !ok || got != want {
			t.Errorf("%s: got %q (present %v), want %q", p, got, ok, want)
		}
	}
	if got, want := s.Short(), s.Revision[:12]; got != want {
		t.Errorf("short revision %q, want %q", got, want)
	}
}

// TestDirSnapshotRevision compares the revisions of two directories: the same
// content must give the same revision wherever it lies, and version-control
// metadata must not count.
func TestDirSnapshotRevision(t *testing.T) {
	base := map[string]string{"fleet.yaml": "kind: Environment\nname: prod\n", "apps/web.yaml": "kind: App\n"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name     string
		a, b     map[string]string
		wantSame bool
	}{
		{"same content", base, with(nil), true},
		{".git left out", base, with(map[string]string{".git/HEAD": "ref: refs/heads/main\n", ".git/objects/ab/cd": "x"}), true},
		{".hg and .svn left out", base, with(map[string]string{".hg/store": "x", ".svn/entries": "y"}), true},
		{"nested .git left out", base, with(map[string]string{"apps/.git/config": "[core]\n"}), true},
		{"changed content", base, with(map[string]string{"apps/web.yaml": "kind: App\nname: web\n"}), false},
		{"extra file", base, with(map[string]string{"apps/db.yaml": "kind: App\n"}), false},
		{"extra empty directory", base, with(map[string]string{"empty/": ""}), false},
		{"file named like .git is kept", base, with(map[string]string{"apps/.gitkeep": ""}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			da, db := t.TempDir(), t.TempDir()
			writeFiles(t, da, tt.a)
			writeFiles(t, db, tt.b)
			sa, err := (&Dir{Path: da}).Snapshot(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			sb, err := (&Dir{Path: db}).Snapshot(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if same := sa.Revision == sb.Revision; same != tt.wantSame {
				t.Errorf("revisions %s and %s: same = %v, want %v", sa.Short(), sb.Short(), same, tt.wantSame)
			}
			for _, skipped := range []string{".git", ".hg", ".svn", "apps/.git"} {
				if sb.Tree.Get(skipped) != nil {
					t.Errorf("tree holds %s, want it left out", skipped)
				}
			}
		})
	}
}

func TestDirSnapshotModeChangesRevision(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"run.sh": "#!/bin/sh\n"})
	d := &Dir{Path: root}
	before, err := d.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	after, err := d.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if before.Revision == after.Revision {
		t.Errorf("revision %s unchanged after chmod 0755, want a new one", before.Short())
	}
}

func TestDirSnapshotErrors(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		setup   func(t *testing.T, root string) string // returns the path to read
		ctx     context.Context
		limits  tree.Limits
		wantErr string
	}{
		{
			name:    "missing directory",
			setup:   func(t *testing.T, root string) string { return filepath.Join(root, "nope") },
			wantErr: "read directory source",
		},
		{
			name: "root is a file",
			setup: func(t *testing.T, root string) string {
				writeFiles(t, root, map[string]string{"f": "x"})
				return filepath.Join(root, "f")
			},
			wantErr: "not a directory",
		},
		{
			name: "named pipe in the tree",
			setup: func(t *testing.T, root string) string {
				if err := syscall.Mkfifo(filepath.Join(root, "pipe"), 0o644); err != nil {
					t.Fatal(err)
				}
				return root
			},
			wantErr: "unsupported file type",
		},
		{
			name: "more bytes than the limit",
			setup: func(t *testing.T, root string) string {
				writeFiles(t, root, map[string]string{"big": strings.Repeat("x", 100)})
				return root
			},
			limits:  tree.Limits{MaxBytes: 10},
			wantErr: "tree limit exceeded",
		},
		{
			name:    "cancelled context",
			setup:   func(t *testing.T, root string) string { return root },
			ctx:     cancelled,
			wantErr: context.Canceled.Error(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.setup(t, t.TempDir())
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			s, err := (&Dir{Path: p, Limits: tt.limits}).Snapshot(ctx)
			if err == nil {
				t.Fatalf("got snapshot %s, want an error containing %q", s.Short(), tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// Watch tests.

const (
	testDebounce = 200 * time.Millisecond
	// noRescan keeps the periodic rescan out of the tests that check that
	// events alone are enough.
	noRescan = time.Hour
	deadline = 10 * time.Second
	poll     = 10 * time.Millisecond
)

// recorder collects the updates Watch reports from its goroutine.
type recorder struct {
	mu      sync.Mutex
	updates []Update
	last    time.Time // when the latest update arrived
}

func (r *recorder) report(u Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, u)
	r.last = time.Now()
}

func (r *recorder) all() []Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Update(nil), r.updates...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.updates)
}

// waitCount waits until at least n updates arrived and returns them.
func (r *recorder) waitCount(t *testing.T, n int) []Update {
	t.Helper()
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		if us := r.all(); len(us) >= n {
			return us
		}
		time.Sleep(poll)
	}
	t.Fatalf("got %d updates in %s, want at least %d: %s", r.count(), deadline, n, describe(r.all()))
	return nil
}

// waitQuiet waits until no update has arrived for quiet, then returns all
// updates.
func (r *recorder) waitQuiet(t *testing.T, quiet time.Duration) []Update {
	t.Helper()
	start := time.Now()
	end := start.Add(deadline)
	for time.Now().Before(end) {
		r.mu.Lock()
		since := r.last
		r.mu.Unlock()
		if since.Before(start) {
			since = start
		}
		if time.Since(since) >= quiet {
			return r.all()
		}
		time.Sleep(poll)
	}
	t.Fatalf("updates did not stop for %s within %s: %s", quiet, deadline, describe(r.all()))
	return nil
}

// describe lists updates for failure messages.
func describe(us []Update) string {
	s := make([]string, len(us))
	for i, u := range us {
		switch {
		case u.Err != nil:
			s[i] = fmt.Sprintf("#%d err %v", i, u.Err)
		case u.Snapshot != nil:
			s[i] = fmt.Sprintf("#%d rev %s (%d entries)", i, u.Snapshot.Short(), u.Snapshot.Tree.Len())
		default:
			s[i] = fmt.Sprintf("#%d empty", i)
		}
	}
	return "[" + strings.Join(s, "; ") + "]"
}

// startWatch runs Watch on d until the test ends and checks that it returns
// nil once its context is cancelled.
func startWatch(t *testing.T, d *Dir, rescan time.Duration) *recorder {
	t.Helper()
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Watch(ctx, rescan, r.report) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch returned %v after cancel, want nil", err)
			}
		case <-time.After(deadline):
			t.Errorf("Watch did not return within %s of cancel", deadline)
		}
	})
	return r
}

// wantSnapshot fails unless u is a snapshot and returns it.
func wantSnapshot(t *testing.T, u Update, what string) *Snapshot {
	t.Helper()
	if u.Err != nil || u.Snapshot == nil {
		t.Fatalf("%s: got error %v (snapshot %v), want a snapshot", what, u.Err, u.Snapshot != nil)
	}
	return u.Snapshot
}

func TestDirWatchReportsInitialSnapshotAtOnce(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"fleet.yaml": "v1\n", ".git/HEAD": "x"})
	// With a debounce of an hour, only a read at once can report in time.
	d := &Dir{Path: root, Debounce: time.Hour}
	want, err := d.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := startWatch(t, d, noRescan)
	s := wantSnapshot(t, r.waitCount(t, 1)[0], "first update")
	if s.Revision != want.Revision {
		t.Errorf("initial revision %s, want %s", s.Short(), want.Short())
	}
	if got, ok := fileContent(s, "fleet.yaml"); !ok || got != "v1\n" {
		t.Errorf("fleet.yaml: got %q (present %v), want %q", got, ok, "v1\n")
	}
	if us := r.waitQuiet(t, 3*testDebounce); len(us) != 1 {
		t.Errorf("got %d updates without any change, want 1: %s", len(us), describe(us))
	}
}

// TestDirWatchDebouncesBurst writes 50 times to several files, one of them
// in a new sub-directory, faster than the debounce: that is one change.
func TestDirWatchDebouncesBurst(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"a.yaml": "a0\n", "b.yaml": "b0\n", "c.yaml": "c0\n"})
	d := &Dir{Path: root, Debounce: testDebounce}
	r := startWatch(t, d, noRescan)
	first := wantSnapshot(t, r.waitCount(t, 1)[0], "initial update")

	want := map[string]string{}
	for i := 1; i <= 50; i++ {
		var p string
		switch i % 5 {
		case 0:
			p = "a.yaml"
		case 1:
			p = "b.yaml"
		case 2:
			p = "c.yaml"
		case 3:
			p = "new/deeper/d.yaml"
		case 4:
			p = fmt.Sprintf("new/e%d.yaml", i%3)
		}
		content := fmt.Sprintf("%s write %d\n", p, i)
		writeFiles(t, root, map[string]string{p: content})
		want[p] = content
	}

	r.waitCount(t, 2)
	us := r.waitQuiet(t, 3*testDebounce)
	if len(us) != 2 {
		t.Fatalf("got %d updates, want 2 (initial + one for the burst): %s", len(us), describe(us))
	}
	s := wantSnapshot(t, us[1], "update after the burst")
	if s.Revision == first.Revision {
		t.Errorf("revision %s unchanged after the burst", s.Short())
	}
	for p, content := range want {
		if got, ok := fileContent(s, p); !ok || got != content {
			t.Errorf("%s: got %q (present %v), want the last write %q", p, got, ok, content)
		}
	}
	direct, err := d.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Revision != direct.Revision {
		t.Errorf("reported revision %s, but the directory reads as %s", s.Short(), direct.Short())
	}
}

func TestDirWatchIgnoresIdenticalWrite(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"fleet.yaml": "v1\n"})
	d := &Dir{Path: root, Debounce: testDebounce}
	r := startWatch(t, d, noRescan)
	r.waitCount(t, 1)

	// Same bytes, same mode: the events come, the revision does not change.
	writeFiles(t, root, map[string]string{"fleet.yaml": "v1\n"})
	if us := r.waitQuiet(t, 3*testDebounce); len(us) != 1 {
		t.Fatalf("got %d updates after rewriting identical content, want 1: %s", len(us), describe(us))
	}

	// The watch is still alive: a real change is reported.
	writeFiles(t, root, map[string]string{"fleet.yaml": "v2\n"})
	us := r.waitCount(t, 2)
	s := wantSnapshot(t, us[1], "update after a real change")
	if got, _ := fileContent(s, "fleet.yaml"); got != "v2\n" {
		t.Errorf("fleet.yaml: got %q, want %q", got, "v2\n")
	}
}

// TestDirWatchNewSubdirectory checks that a directory created after Watch
// started is watched too: a later write inside it is reported without any
// rescan.
func TestDirWatchNewSubdirectory(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"fleet.yaml": "v1\n"})
	d := &Dir{Path: root, Debounce: testDebounce}
	r := startWatch(t, d, noRescan)
	r.waitCount(t, 1)

	if err := os.MkdirAll(filepath.Join(root, "apps", "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	us := r.waitCount(t, 2)
	s := wantSnapshot(t, us[1], "update after mkdir")
	if e := s.Tree.Get("apps/web"); e == nil || e.Kind != tree.Dir {
		t.Fatalf("tree has no directory apps/web after mkdir: %s", describe(us))
	}
	r.waitQuiet(t, 2*testDebounce)

	// Only a watch on apps/web sees this.
	writeFiles(t, root, map[string]string{"apps/web/app.yaml": "kind: App\n"})
	end := time.Now().Add(deadline)
	for {
		us = r.all()
		if u := us[len(us)-1]; u.Snapshot != nil {
			if got, ok := fileContent(u.Snapshot, "apps/web/app.yaml"); ok && got == "kind: App\n" {
				break
			}
		}
		if time.Now().After(end) {
			t.Fatalf("write into the new directory apps/web not reported within %s: %s", deadline, describe(us))
		}
		time.Sleep(poll)
	}
	if us := r.waitQuiet(t, 3*testDebounce); len(us) != 3 {
		t.Errorf("got %d updates, want 3 (initial, mkdir, write): %s", len(us), describe(us))
	}
}

// TestDirWatchReportsUnreadableThenRecovers puts a named pipe in the tree,
// which a snapshot refuses, then removes it.
func TestDirWatchReportsUnreadableThenRecovers(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"fleet.yaml": "v1\n"})
	d := &Dir{Path: root, Debounce: testDebounce}
	r := startWatch(t, d, noRescan)
	good := wantSnapshot(t, r.waitCount(t, 1)[0], "initial update")

	pipe := filepath.Join(root, "pipe")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Fatal(err)
	}
	us := r.waitCount(t, 2)
	if us[1].Err == nil {
		t.Fatalf("update after mkfifo: got snapshot, want an error: %s", describe(us))
	}
	if us[1].Snapshot != nil {
		t.Errorf("error update also carries a snapshot %s, want none", us[1].Snapshot.Short())
	}
	if !strings.Contains(us[1].Err.Error(), "pipe") {
		t.Errorf("error %q does not name the pipe", us[1].Err)
	}

	if err := os.Remove(pipe); err != nil {
		t.Fatal(err)
	}
	us = r.waitCount(t, 3)
	s := wantSnapshot(t, us[2], "update after removing the pipe")
	// The content is back to what it was, and it is reported again: after an
	// error the last good revision must be announced anew.
	if s.Revision != good.Revision {
		t.Errorf("revision %s after removing the pipe, want the original %s", s.Short(), good.Short())
	}
	if us := r.waitQuiet(t, 3*testDebounce); len(us) != 3 {
		t.Errorf("got %d updates, want 3 (good, error, good): %s", len(us), describe(us))
	}
}

// TestDirWatchMissingDirectory starts on a directory that does not exist yet:
// errors are reported, and the periodic rescan picks the directory up once it
// appears.
func TestDirWatchMissingDirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "later")
	d := &Dir{Path: root, Debounce: testDebounce}
	r := startWatch(t, d, 100*time.Millisecond)
	us := r.waitCount(t, 1)
	if us[0].Err == nil {
		t.Fatalf("first update on a missing directory: got a snapshot, want an error: %s", describe(us))
	}

	writeFiles(t, root, map[string]string{"fleet.yaml": "v1\n"})
	end := time.Now().Add(deadline)
	for {
		us = r.all()
		if u := us[len(us)-1]; u.Snapshot != nil {
			if got, _ := fileContent(u.Snapshot, "fleet.yaml"); got != "v1\n" {
				t.Fatalf("fleet.yaml: got %q, want %q", got, "v1\n")
			}
			break
		}
		if time.Now().After(end) {
			t.Fatalf("directory created later not reported within %s: %s", deadline, describe(us))
		}
		time.Sleep(poll)
	}
}

func TestDirWatchReturnsNilOnCancel(t *testing.T) {
	tests := []struct {
		name   string
		before func(r *recorder) bool // what to wait for before cancelling
	}{
		{"after the first report", func(r *recorder) bool { return r.count() >= 1 }},
		{"at once", func(*recorder) bool { return true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, map[string]string{"fleet.yaml": "v1\n"})
			d := &Dir{Path: root, Debounce: testDebounce}
			r := &recorder{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- d.Watch(ctx, noRescan, r.report) }()
			end := time.Now().Add(deadline)
			for !tt.before(r) {
				if time.Now().After(end) {
					t.Fatalf("nothing reported within %s", deadline)
				}
				time.Sleep(poll)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Watch returned %v, want nil", err)
				}
			case <-time.After(deadline):
				t.Fatalf("Watch did not return within %s of cancel", deadline)
			}
			for _, u := range r.all() {
				if errors.Is(u.Err, context.Canceled) {
					t.Errorf("cancellation reported as an update error: %v", u.Err)
				}
			}
		})
	}
}

// TestDirAddWatchesSkipsVersionControl checks which directories are watched,
// at start and when a directory appears later: never .git, .hg or .svn, and
// nothing below them.
func TestDirAddWatchesSkipsVersionControl(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"apps/web.yaml": "x", "apps/.git/objects/ab": "x", ".hg/store/x": "x",
	})
	d := &Dir{Path: root}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := d.addWatches(w, root); err != nil {
		t.Fatal(err)
	}
	// Later: a new directory holding a working copy, `git init` at the
	// root, a repository in an existing directory, and a plain file.
	writeFiles(t, root, map[string]string{
		"new/sub/f": "x", "new/.svn/entries": "x", ".git/refs/heads/main": "x", "apps/.hg/store/y": "x",
	})
	for _, p := range []string{"new", ".git", "apps/.hg", "apps/web.yaml"} {
		d.handle(w, fsnotify.Event{Name: filepath.Join(root, filepath.FromSlash(p)), Op: fsnotify.Create})
	}

	var got []string
	for _, p := range w.WatchList() {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, filepath.ToSlash(rel))
	}
	sort.Strings(got)
	want := []string{".", "apps", "new", "new/sub"}
	if !slices.Equal(got, want) {
		t.Errorf("watched %v, want %v", got, want)
	}
}

// TestDirSymlinkedRoot reads and watches a root that is a symbolic link to
// the real directory, as deployments that switch a link often have.
func TestDirSymlinkedRoot(t *testing.T) {
	real := t.TempDir()
	if err := os.WriteFile(filepath.Join(real, "env.yaml"), []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "desired")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	s, err := (&Dir{Path: link}).Snapshot(context.Background())
	if err != nil {
		t.Fatalf("Snapshot of a symlinked root: %v", err)
	}
	if e := s.Tree.Get("env.yaml"); e == nil || string(e.Data) != "a: 1\n" {
		t.Fatalf("got entry %+v, want env.yaml with its content", e)
	}
}
