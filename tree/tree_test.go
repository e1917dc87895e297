package tree_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/tree"
)

func file(p, data string) *tree.Entry {
	return &tree.Entry{Path: p, Kind: tree.File, Perm: 0o644, Data: []byte(data)}
}

func dir(p string) *tree.Entry { return &tree.Entry{Path: p, Kind: tree.Dir, Perm: 0o755} }

func link(p, target string) *tree.Entry {
	return &tree.Entry{Path: p, Kind: tree.Symlink, Perm: 0o777, Target: target}
}

func mustNew(t *testing.T, entries ...*tree.Entry) *tree.Tree {
	t.Helper()
	tr, err := tree.New(entries)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tr
}

func paths(tr *tree.Tree) string {
	var ps []string
	for _, e := range tr.Entries() {
		ps = append(ps, e.Path)
	}
	return strings.Join(ps, " ")
}

func TestNew(t *testing.T) {
	tests := []struct {
		name      string
		entries   []*tree.Entry
		wantPaths string
		wantErr   string
	}{
		{name: "parents added", entries: []*tree.Entry{file("a/b/c", "x"), file("z", "")}, wantPaths: "a a/b a/b/c z"},
		{name: "sorted by path", entries: []*tree.Entry{file("b", ""), file("a.txt", ""), file("a/x", "")}, wantPaths: "a a.txt a/x b"},
		{name: "empty", wantPaths: ""},
		{name: "empty path", entries: []*tree.Entry{file("", "")}, wantErr: "empty path"},
		{name: "dot", entries: []*tree.Entry{dir(".")}, wantErr: "empty path"},
		{name: "absolute", entries: []*tree.Entry{file("/etc/passwd", "")}, wantErr: "/etc/passwd: absolute path"},
		{name: "dot dot", entries: []*tree.Entry{file("../x", "")}, wantErr: "../x: path escapes the tree"},
		{name: "dot dot inside", entries: []*tree.Entry{file("a/../b", "")}, wantErr: "a/../b: path is not clean"},
		{name: "double slash", entries: []*tree.Entry{file("a//b", "")}, wantErr: "a//b: path is not clean"},
		{name: "trailing slash", entries: []*tree.Entry{dir("a/")}, wantErr: "a/: path is not clean"},
		{name: "just dot dot", entries: []*tree.Entry{file("..", "")}, wantErr: "..: path escapes the tree"},
		{name: "duplicate", entries: []*tree.Entry{file("a", "1"), file("a", "2")}, wantErr: "a: duplicate entry"},
		{name: "parent is a file", entries: []*tree.Entry{file("a", ""), file("a/b", "")}, wantErr: "a/b: parent a is a file, not a directory"},
		{name: "parent is a symlink", entries: []*tree.Entry{link("a", "d"), file("a/b", "")}, wantErr: "a/b: parent a is a symlink, not a directory"},
		{name: "symlink without target", entries: []*tree.Entry{link("l", "")}, wantErr: "l: symlink with empty target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := tree.New(tt.entries)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got := paths(tr); got != tt.wantPaths {
				t.Errorf("got paths %q, want %q", got, tt.wantPaths)
			}
		})
	}
}

func TestNewAddedParentsAreOrdinaryDirectories(t *testing.T) {
	tr := mustNew(t, &tree.Entry{Path: "a/f", Kind: tree.File, Perm: 0o104755, Data: []byte("abc")})
	d := tr.Get("a")
	if d == nil || d.Kind != tree.Dir || d.Perm != 0o755 {
		t.Fatalf("got parent %+v, want a directory with perm 0755", d)
	}
	if got := tr.Get("a/f").Perm; got != 0o4755 {
		t.Errorf("got perm %o, want bits outside 07777 dropped: 4755", got)
	}
	if got := tr.Size(); got != 3 {
		t.Errorf("got size %d, want 3", got)
	}
	if tr.Get("missing") != nil || tr.Get("a/") != nil {
		t.Errorf("Get of paths not in the tree returned an entry")
	}
}

func TestDigestCoversKindAndPath(t *testing.T) {
	// A file and a symlink whose content hashes are equal (sha256 of the
	// same bytes) and whose permissions are equal still differ.
	asFile := mustNew(t, &tree.Entry{Path: "x", Kind: tree.File, Perm: 0o777, Data: []byte("target")})
	asLink := mustNew(t, &tree.Entry{Path: "x", Kind: tree.Symlink, Perm: 0o777, Target: "target"})
	if asFile.Digest() == asLink.Digest() {
		t.Errorf("a file and a symlink with the same bytes have the same digest")
	}
	// The same entries given in another order make the same tree.
	a := mustNew(t, file("b", "2"), file("a/x", "1"))
	b := mustNew(t, dir("a"), file("a/x", "1"), file("b", "2"))
	if a.Digest() != b.Digest() {
		t.Errorf("got digests %s and %s for the same entries, want them equal", a.Digest(), b.Digest())
	}
	// Path boundaries are part of the hash: "ab"+"c" is not "a"+"bc".
	c := mustNew(t, file("ab", "c"))
	d := mustNew(t, file("a", "bc"))
	if c.Digest() == d.Digest() {
		t.Errorf("moving a byte between path and content keeps the digest")
	}
}

func TestSub(t *testing.T) {
	full := mustNew(t,
		file("README", "top"),
		file("artifacts/web/v1/index.html", "v1"),
		&tree.Entry{Path: "artifacts/web/v1/bin/start", Kind: tree.File, Perm: 0o755, Data: []byte("#!/bin/sh\n")},
		link("artifacts/web/v1/current", "index.html"),
		dir("artifacts/web/v1/empty"),
		file("artifacts/web/v10/index.html", "v10"),
		file("artifacts/web/v1.txt", "not in v1"),
		link("artifacts/web/v2", "v1"),
		link("linked", "artifacts"),
		dir("artifacts/web/v3"),
	)
	tests := []struct {
		name      string
		dir       string
		wantPaths string
		wantErr   string
	}{
		{name: "paths are relative", dir: "artifacts/web/v1", wantPaths: "bin bin/start current empty index.html"},
		{name: "cleaned", dir: "./artifacts/web/v1/", wantPaths: "bin bin/start current empty index.html"},
		{name: "no sibling with a common prefix", dir: "artifacts/web/v10", wantPaths: "index.html"},
		{name: "empty directory", dir: "artifacts/web/v3", wantPaths: ""},
		{name: "symlinked directory", dir: "artifacts/web/v2", wantErr: "artifacts/web/v2 is a symlink, not a directory"},
		{name: "symlink on the way", dir: "linked/web/v1", wantErr: "linked is a symlink, not a directory"},
		{name: "a file", dir: "README", wantErr: "README is a file, not a directory"},
		{name: "below a file", dir: "README/x", wantErr: "README is a file, not a directory"},
		{name: "missing", dir: "artifacts/web/v9", wantErr: "artifacts/web/v9: no such directory"},
		{name: "missing parent", dir: "nothing/here", wantErr: "nothing/here: no such directory"},
		{name: "root", dir: ".", wantErr: "empty path"},
		{name: "escapes", dir: "artifacts/../../x", wantErr: "path escapes the tree"},
		{name: "absolute", dir: "/artifacts", wantErr: "absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := full.Sub(tt.dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got := paths(sub); got != tt.wantPaths {
				t.Errorf("got paths %q, want %q", got, tt.wantPaths)
			}
		})
	}
}

func TestSubEqualsReadingTheDirectory(t *testing.T) {
	root := t.TempDir()
	writeFixture(t, root, []fixtureEntry{
		{path: "repo.yaml", kind: tree.File, perm: 0o644, data: "kind: App\n"},
		{path: "artifacts/web/v1/bin/start", kind: tree.File, perm: 0o755, data: "#!/bin/sh\n"},
		{path: "artifacts/web/v1/conf", kind: tree.File, perm: 0o600, data: "k=v\n"},
		{path: "artifacts/web/v1/start", kind: tree.Symlink, target: "bin/start"},
		{path: "artifacts/web/v1/ro", kind: tree.Dir, perm: 0o555},
	})
	full, err := tree.ReadDir(root, tree.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := full.Sub("artifacts/web/v1")
	if err != nil {
		t.Fatalf("Sub: %v", err)
	}
	direct, err := tree.ReadDir(filepath.Join(root, "artifacts/web/v1"), tree.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Digest() != direct.Digest() {
		t.Errorf("got Sub digest %s, want %s, the digest of the directory read on its own", sub.Digest(), direct.Digest())
	}
	if got := sub.Get("conf").Perm; got != 0o600 {
		t.Errorf("got conf perm %o in the sub tree, want 600", got)
	}
	// The parent tree is not changed by cutting a sub tree out of it.
	if full.Get("artifacts/web/v1/conf") == nil || full.Get("conf") != nil {
		t.Errorf("Sub changed the paths of the tree it was cut from: %s", paths(full))
	}
}

func TestFiles(t *testing.T) {
	tr := mustNew(t, file("db/0002.sql", ""), file("db/0001.sql", ""), link("db/latest.sql", "0002.sql"), dir("db/x.sql"), file("README", ""))
	var got []string
	for _, e := range tr.Files(func(p string) bool { return strings.HasSuffix(p, ".sql") }) {
		got = append(got, e.Path)
	}
	want := "db/0001.sql db/0002.sql"
	if strings.Join(got, " ") != want {
		t.Errorf("got files %q, want %q (regular files only, in path order)", got, want)
	}
}
