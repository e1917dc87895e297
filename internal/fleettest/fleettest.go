// Package fleettest helps the tests of transports and of the executor:
// small releases, fresh local servers, and listings of what a server holds.
package fleettest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/transport/local"
	"github.com/gitfleet/gitfleet/tree"
)

// AppTree is a small release of version: a script, a private file, a
// read-only directory and a link.
func AppTree(t testing.TB, version string) *tree.Tree {
	t.Helper()
	tr, err := tree.New([]*tree.Entry{
		{Path: "VERSION", Kind: tree.File, Perm: 0o644, Data: []byte(version + "\n")},
		{Path: "bin/start", Kind: tree.File, Perm: 0o755, Data: []byte("#!/bin/sh\necho " + version + "\n")},
		{Path: "conf/secret", Kind: tree.File, Perm: 0o600, Data: []byte("token=" + version + "\n")},
		{Path: "static", Kind: tree.Dir, Perm: 0o555},
		{Path: "static/index.html", Kind: tree.File, Perm: 0o444, Data: []byte("<p>" + version + "</p>\n")},
		{Path: "start", Kind: tree.Symlink, Perm: 0o777, Target: "bin/start"},
	})
	if err != nil {
		t.Fatalf("tree: %v", err)
	}
	return tr
}

// NewLocal is a Local transport over a fresh directory.
func NewLocal(t testing.TB) *local.Local {
	root := t.TempDir()
	Removable(t, root)
	return &local.Local{Root: root}
}

// Removable gives every directory under dir its owner's write bit back
// before t.TempDir removes it, so read-only release directories do not break
// the cleanup when the tests run as an ordinary user.
func Removable(t testing.TB, dir string) {
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
	})
}

// Names lists a directory, "" entries when it does not exist.
func Names(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read %s: %v", dir, err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// Walk lists every path under dir, relative to it.
func Walk(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return out
}

// NoTemporaries fails the test when dir holds a temporary entry.
func NoTemporaries(t testing.TB, dir string) {
	t.Helper()
	for _, n := range Names(t, dir) {
		if strings.HasPrefix(n, ".tmp-") {
			t.Errorf("%s: temporary entry %s left behind", dir, n)
		}
	}
}
