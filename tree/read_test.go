package tree_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/tree"
)

// fixture is a directory of every kind ReadDir accepts. Paths are
// slash-separated; a "dir" with no content is an empty directory.
type fixtureEntry struct {
	path   string
	kind   tree.Kind
	perm   fs.FileMode // Unix permission word, setuid included
	data   string
	target string
}

var fixture = []fixtureEntry{
	{path: "bin", kind: tree.Dir, perm: 0o755},
	{path: "bin/run.sh", kind: tree.File, perm: 0o755, data: "#!/bin/sh\necho run\n"},
	{path: "bin/su-helper", kind: tree.File, perm: 0o4755, data: "setuid\n"},
	{path: "bin/secret-link", kind: tree.Symlink, target: "../secret"},
	{path: "secret", kind: tree.File, perm: 0o600, data: "password=hunter2\n"},
	{path: "empty", kind: tree.Dir, perm: 0o750},
	{path: "ro", kind: tree.Dir, perm: 0o555},
	{path: "ro/readme", kind: tree.File, perm: 0o444, data: "read only\n"},
	{path: "ro/inner", kind: tree.Dir, perm: 0o700},
	{path: "ro/inner/x", kind: tree.File, perm: 0o644, data: ""},
	{path: "run", kind: tree.Symlink, target: "bin/run.sh"},
	{path: "ro-link", kind: tree.Symlink, target: "ro"},
	{path: "dangling", kind: tree.Symlink, target: "not-there"},
}

// goMode turns a Unix permission word into Go's mode bits.
func goMode(p fs.FileMode) fs.FileMode {
	m := p & 0o777
	if p&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if p&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if p&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// writeFixture creates entries under dir with exact modes, directories'
// modes last so read-only ones can be filled first.
func writeFixture(t *testing.T, dir string, entries []fixtureEntry) {
	t.Helper()
	var dirs []fixtureEntry
	for _, e := range entries {
		p := filepath.Join(dir, filepath.FromSlash(e.path))
		var err error
		switch e.kind {
		case tree.Dir:
			err = os.MkdirAll(p, 0o700)
			dirs = append(dirs, e)
		case tree.File:
			if err = os.MkdirAll(filepath.Dir(p), 0o700); err == nil {
				err = os.WriteFile(p, []byte(e.data), 0o600)
			}
			if err == nil {
				err = os.Chmod(p, goMode(e.perm))
			}
		case tree.Symlink:
			err = os.Symlink(e.target, p)
		}
		if err != nil {
			t.Fatalf("write fixture %s: %v", e.path, err)
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		p := filepath.Join(dir, filepath.FromSlash(dirs[i].path))
		if err := os.Chmod(p, goMode(dirs[i].perm)); err != nil {
			t.Fatalf("chmod fixture %s: %v", dirs[i].path, err)
		}
	}
	makeRemovable(t, dir)
}

// makeRemovable gives every directory under dir its owner's write bit back
// before t.TempDir removes it, so read-only directories do not break the
// cleanup when the tests run as an ordinary user.
func makeRemovable(t *testing.T, dir string) {
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
	})
}

// assertOnDisk checks that dir holds exactly the fixture entries, with their
// content, modes and link targets.
func assertOnDisk(t *testing.T, dir string, want []fixtureEntry) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range want {
		seen[e.path] = true
		p := filepath.Join(dir, filepath.FromSlash(e.path))
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", e.path, err)
			continue
		}
		switch e.kind {
		case tree.Dir:
			if !fi.IsDir() {
				t.Errorf("%s: got mode %s, want a directory", e.path, fi.Mode())
			} else if got, want := fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), goMode(e.perm); got != want {
				t.Errorf("%s: got dir mode %s, want %s", e.path, got, want)
			}
		case tree.File:
			if !fi.Mode().IsRegular() {
				t.Errorf("%s: got mode %s, want a regular file", e.path, fi.Mode())
				continue
			}
			if got, want := fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), goMode(e.perm); got != want {
				t.Errorf("%s: got file mode %s, want %s", e.path, got, want)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Errorf("%s: %v", e.path, err)
			} else if string(data) != e.data {
				t.Errorf("%s: got content %q, want %q", e.path, data, e.data)
			}
		case tree.Symlink:
			if fi.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("%s: got mode %s, want a symlink", e.path, fi.Mode())
				continue
			}
			if got, err := os.Readlink(p); err != nil || got != e.target {
				t.Errorf("%s: got link target %q (%v), want %q", e.path, got, err, e.target)
			}
		}
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !seen[filepath.ToSlash(rel)] {
			t.Errorf("%s: on disk but not expected", rel)
		}
		return nil
	})
}

func TestReadDirRecordsEveryEntry(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, fixture)

	tr, err := tree.ReadDir(dir, tree.Limits{})
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	if got, want := tr.Len(), len(fixture); got != want {
		t.Errorf("got %d entries, want %d", got, want)
	}
	var size int64
	for _, w := range fixture {
		size += int64(len(w.data))
		e := tr.Get(w.path)
		if e == nil {
			t.Errorf("%s: missing from the tree", w.path)
			continue
		}
		if e.Kind != w.kind {
			t.Errorf("%s: got kind %s, want %s", w.path, e.Kind, w.kind)
		}
		switch w.kind {
		case tree.File, tree.Dir:
			if e.Perm != w.perm {
				t.Errorf("%s: got perm %04o, want %04o", w.path, e.Perm, w.perm)
			}
		}
		if string(e.Data) != w.data {
			t.Errorf("%s: got data %q, want %q", w.path, e.Data, w.data)
		}
		if e.Target != w.target {
			t.Errorf("%s: got target %q, want %q", w.path, e.Target, w.target)
		}
	}
	if got := tr.Size(); got != size {
		t.Errorf("got size %d, want %d", got, size)
	}
	entries := tr.Entries()
	for i := 1; i < len(entries); i++ {
		if entries[i-1].Path >= entries[i].Path {
			t.Errorf("entries not in path order: %s before %s", entries[i-1].Path, entries[i].Path)
		}
	}
}

func TestReadDirWriteToRoundTrip(t *testing.T) {
	src := t.TempDir()
	writeFixture(t, src, fixture)
	first, err := tree.ReadDir(src, tree.Limits{})
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}

	dst := t.TempDir()
	makeRemovable(t, dst)
	if err := first.WriteTo(dst); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	assertOnDisk(t, dst, fixture)

	second, err := tree.ReadDir(dst, tree.Limits{})
	if err != nil {
		t.Fatalf("ReadDir of the copy: %v", err)
	}
	if first.Digest() != second.Digest() {
		t.Errorf("got digest %s after the round trip, want %s", second.Digest(), first.Digest())
	}
}

func TestWriteToAppliesModesDespiteUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)

	tr, err := tree.New([]*tree.Entry{
		{Path: "shared", Kind: tree.Dir, Perm: 0o775},
		{Path: "shared/run", Kind: tree.File, Perm: 0o755, Data: []byte("x")},
	})
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := tr.WriteTo(dst); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	assertOnDisk(t, dst, []fixtureEntry{
		{path: "shared", kind: tree.Dir, perm: 0o775},
		{path: "shared/run", kind: tree.File, perm: 0o755, data: "x"},
	})
}

func TestWriteToRefusesExistingEntries(t *testing.T) {
	tr, err := tree.New([]*tree.Entry{{Path: "a", Kind: tree.File, Perm: 0o644, Data: []byte("new")}})
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := os.WriteFile(filepath.Join(dst, "a"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = tr.WriteTo(dst)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("got error %v, want one wrapping fs.ErrExist", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dst, "a")); string(data) != "old" {
		t.Errorf("got content %q, want the existing file left as %q", data, "old")
	}
}

func TestReadDirSkipsNamedDirectories(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, []fixtureEntry{
		{path: ".git/HEAD", kind: tree.File, perm: 0o644, data: "ref: refs/heads/main\n"},
		{path: "app/.git/config", kind: tree.File, perm: 0o644, data: "[core]\n"},
		{path: "app/main.sh", kind: tree.File, perm: 0o755, data: "echo\n"},
		// Only directories are skipped: a file named like one stays.
		{path: "docs/.git", kind: tree.File, perm: 0o644, data: "gitdir: ../x\n"},
	})

	tr, err := tree.ReadDir(dir, tree.Limits{MaxFiles: 4}, ".git")
	if err != nil {
		t.Fatalf("ReadDir: %v (skipped entries must not count against the limits)", err)
	}
	var got []string
	for _, e := range tr.Entries() {
		got = append(got, e.Path)
	}
	want := []string{"app", "app/main.sh", "docs", "docs/.git"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got entries %q, want %q", got, want)
	}
}

func TestReadDirLimits(t *testing.T) {
	dir := t.TempDir()
	// 4 entries: a, a/one (3 bytes), a/two (4 bytes), three (5 bytes); 12 bytes.
	writeFixture(t, dir, []fixtureEntry{
		{path: "a/one", kind: tree.File, perm: 0o644, data: "one"},
		{path: "a/two", kind: tree.File, perm: 0o644, data: "two!"},
		{path: "three", kind: tree.File, perm: 0o644, data: "three"},
	})
	tests := []struct {
		name    string
		limits  tree.Limits
		wantErr string
	}{
		{name: "defaults", limits: tree.Limits{}},
		{name: "exactly MaxFiles entries", limits: tree.Limits{MaxFiles: 4}},
		{name: "one entry too many", limits: tree.Limits{MaxFiles: 3}, wantErr: "more than 3 entries"},
		{name: "exactly MaxBytes", limits: tree.Limits{MaxBytes: 12}},
		{name: "one byte too many", limits: tree.Limits{MaxBytes: 11}, wantErr: "more than 11 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := tree.ReadDir(dir, tt.limits)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if tr.Len() != 4 || tr.Size() != 12 {
					t.Errorf("got %d entries of %d bytes, want 4 of 12", tr.Len(), tr.Size())
				}
				return
			}
			if !errors.Is(err, tree.ErrLimit) {
				t.Fatalf("got error %v, want one wrapping ErrLimit", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), dir) {
				t.Errorf("got error %q, want it to name %s and say %q", err, dir, tt.wantErr)
			}
		})
	}
}

func TestLimitsWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   tree.Limits
		want tree.Limits
	}{
		{name: "zero", in: tree.Limits{}, want: tree.Limits{MaxFiles: 200_000, MaxBytes: 1 << 30}},
		{name: "negative", in: tree.Limits{MaxFiles: -1, MaxBytes: -1}, want: tree.Limits{MaxFiles: 200_000, MaxBytes: 1 << 30}},
		{name: "set", in: tree.Limits{MaxFiles: 7, MaxBytes: 9}, want: tree.Limits{MaxFiles: 7, MaxBytes: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.WithDefaults(); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadDirRefusesFifo(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, []fixtureEntry{{path: "sub/ok", kind: tree.File, perm: 0o644, data: "ok"}})
	fifo := filepath.Join(dir, "sub", "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	// A reader would block on the fifo forever: returning at all shows it
	// is not opened.
	tr, err := tree.ReadDir(dir, tree.Limits{})
	if err == nil {
		t.Fatalf("got a tree of %d entries, want an error for the fifo", tr.Len())
	}
	if !strings.Contains(err.Error(), fifo) {
		t.Errorf("got error %q, want it to name %s", err, fifo)
	}
}

func TestReadDirRoot(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		root    string
		wantErr string
		wantIs  error
	}{
		{name: "empty directory", root: t.TempDir()},
		{name: "missing", root: filepath.Join(dir, "missing"), wantIs: fs.ErrNotExist},
		{name: "regular file", root: file, wantErr: file + ": not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := tree.ReadDir(tt.root, tree.Limits{})
			switch {
			case tt.wantIs != nil:
				if !errors.Is(err, tt.wantIs) {
					t.Errorf("got error %v, want one wrapping %v", err, tt.wantIs)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got error %v, want %q", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if tr.Len() != 0 || tr.Digest() != (&tree.Tree{}).Digest() {
					t.Errorf("got %d entries and digest %s, want an empty tree", tr.Len(), tr.Digest())
				}
			}
		})
	}
}

// time0 is a time far from now, to change only a file's times.
var time0 = time.Unix(1_000_000_000, 0)

func TestDigest(t *testing.T) {
	base := []fixtureEntry{
		{path: "bin/run.sh", kind: tree.File, perm: 0o755, data: "#!/bin/sh\necho run\n"},
		{path: "conf", kind: tree.File, perm: 0o644, data: "a=1\n"},
		{path: "run", kind: tree.Symlink, target: "bin/run.sh"},
		{path: "var", kind: tree.Dir, perm: 0o755},
	}
	digestOf := func(t *testing.T, change func(dir string) error) string {
		t.Helper()
		dir := t.TempDir()
		writeFixture(t, dir, base)
		if change != nil {
			if err := change(dir); err != nil {
				t.Fatalf("change: %v", err)
			}
		}
		tr, err := tree.ReadDir(dir, tree.Limits{})
		if err != nil {
			t.Fatalf("ReadDir: %v", err)
		}
		return tr.Digest()
	}
	relink := func(name, target string) func(string) error {
		return func(dir string) error {
			p := filepath.Join(dir, name)
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Symlink(target, p)
		}
	}
	want := digestOf(t, nil)
	tests := []struct {
		name     string
		change   func(dir string) error
		wantSame bool
	}{
		{name: "same content in another directory", change: nil, wantSame: true},
		{name: "only times change", wantSame: true, change: func(dir string) error {
			return os.Chtimes(filepath.Join(dir, "conf"), time0, time0)
		}},
		{name: "one byte changes", change: func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "conf"), []byte("a=2\n"), 0o644)
		}},
		{name: "file mode changes", change: func(dir string) error {
			return os.Chmod(filepath.Join(dir, "bin/run.sh"), 0o744)
		}},
		{name: "directory mode changes", change: func(dir string) error {
			return os.Chmod(filepath.Join(dir, "var"), 0o700)
		}},
		{name: "symlink target changes", change: relink("run", "bin/run.sh/")},
		{name: "file renamed", change: func(dir string) error {
			return os.Rename(filepath.Join(dir, "conf"), filepath.Join(dir, "conf2"))
		}},
		{name: "empty directory added", change: func(dir string) error {
			return os.Mkdir(filepath.Join(dir, "var/cache"), 0o755)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := digestOf(t, tt.change)
			if tt.wantSame && got != want {
				t.Errorf("got digest %s, want %s: the content is the same", got, want)
			}
			if !tt.wantSame && got == want {
				t.Errorf("got digest %s for changed content, want it to differ", got)
			}
		})
	}
}

func TestDigestOfEmptyTrees(t *testing.T) {
	var nilTree *tree.Tree
	empty, err := tree.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if nilTree.Digest() != empty.Digest() || (&tree.Tree{}).Digest() != empty.Digest() {
		t.Errorf("got digests %s (nil), %s (zero), %s (New(nil)), want them equal",
			nilTree.Digest(), (&tree.Tree{}).Digest(), empty.Digest())
	}
	one, err := tree.New([]*tree.Entry{{Path: "d", Kind: tree.Dir, Perm: 0o755}})
	if err != nil {
		t.Fatal(err)
	}
	if one.Digest() == empty.Digest() {
		t.Errorf("a tree with one empty directory has the digest of an empty tree")
	}
}

func TestReadDirKeepsContentNotAliases(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, []fixtureEntry{{path: "f", kind: tree.File, perm: 0o644, data: "before"}})
	tr, err := tree.ReadDir(dir, tree.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("after!"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := tr.Get("f").Data; !bytes.Equal(got, []byte("before")) {
		t.Errorf("got %q after the file changed on disk, want the tree to keep %q", got, "before")
	}
}
