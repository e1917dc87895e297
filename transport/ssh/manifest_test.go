package ssh

import (
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/tree"
)

func mkTree(t *testing.T, entries ...*tree.Entry) *tree.Tree {
	t.Helper()
	tr, err := tree.New(entries)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func file(p, content string, perm fs.FileMode) *tree.Entry {
	return &tree.Entry{Path: p, Kind: tree.File, Perm: perm, Data: []byte(content)}
}

func TestComputeDelta(t *testing.T) {
	base := mkTree(t,
		file("same", "s", 0o644),
		file("changed", "old", 0o644),
		file("mode", "m", 0o644),
		file("gone", "g", 0o644),
		file("dir/a", "a", 0o644),
		file("dir/b", "b", 0o644),
		&tree.Entry{Path: "link", Kind: tree.Symlink, Target: "same"},
		&tree.Entry{Path: "relink", Kind: tree.Symlink, Target: "same"},
		file("becomes-dir", "x", 0o644),
	)
	next := mkTree(t,
		file("same", "s", 0o644),
		file("changed", "new", 0o644),
		file("mode", "m", 0o755),
		file("dir", "now a file", 0o644),
		&tree.Entry{Path: "link", Kind: tree.Symlink, Target: "same"},
		&tree.Entry{Path: "relink", Kind: tree.Symlink, Target: "changed"},
		file("becomes-dir/inner", "i", 0o644),
		file("added", "new file", 0o644),
	)
	d := computeDelta(ManifestOf(base), next)
	wantRemove := []string{"becomes-dir", "changed", "dir", "gone", "mode", "relink"}
	if !reflect.DeepEqual(d.remove, wantRemove) {
		t.Errorf("remove %v, want %v", d.remove, wantRemove)
	}
	var sent []string
	for _, e := range d.send {
		sent = append(sent, e.Path)
	}
	wantSend := []string{"added", "becomes-dir", "becomes-dir/inner", "changed", "dir", "mode", "relink"}
	if !reflect.DeepEqual(sent, wantSend) {
		t.Errorf("send %v, want %v", sent, wantSend)
	}
	if d.linked != 1 {
		t.Errorf("linked %d files, want 1 (same)", d.linked)
	}
}

func TestManifestFormats(t *testing.T) {
	m := &Manifest{Entries: []ManifestEntry{{Path: "a", Kind: tree.File, Perm: 0o644, Sum: "00"}}}
	b := m.marshal()
	if !strings.Contains(string(b), `"format":1`) {
		t.Errorf("written manifest %s, want format 1", b)
	}
	if got, err := parseManifest([]byte(`{"entries":[{"p":"a","k":0,"m":420}]}`)); err != nil || len(got.Entries) != 1 {
		t.Errorf("format 0: %+v, %v; want it read", got, err)
	}
	if _, err := parseManifest([]byte(`{"format":2,"entries":[]}`)); err == nil || !strings.Contains(err.Error(), "format 2") {
		t.Errorf("format 2: %v, want it refused", err)
	}
}
