package tree_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gitfleet/gitfleet/tree"
)

// chain is n+1 links c00 -> c01 -> ... -> cNN -> f: resolving c00 follows
// n+1 links.
func chain(n int) []*tree.Entry {
	es := []*tree.Entry{file("f", "end")}
	for i := 0; i < n; i++ {
		es = append(es, link(fmt.Sprintf("c%02d", i), fmt.Sprintf("c%02d", i+1)))
	}
	return append(es, link(fmt.Sprintf("c%02d", n), "f"))
}

// doubling is d00 -> . and dNN -> d(N-1)/d(N-1): resolving dNN follows
// 2^(N+1)-1 links, so a resolver that bounds only the depth of links takes
// exponential time.
func doubling(n int) []*tree.Entry {
	es := []*tree.Entry{link("d00", ".")}
	for i := 1; i <= n; i++ {
		p := fmt.Sprintf("d%02d", i-1)
		es = append(es, link(fmt.Sprintf("d%02d", i), p+"/"+p))
	}
	return es
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		entries []*tree.Entry
		// create are directories made after the tree is written, as an app
		// might make them in its release at run time.
		create []string
		// wantErrs maps every path that must be reported to a part of its
		// error; paths not in it must not be reported.
		wantErrs map[string]string
	}{
		{
			name:     "absolute target",
			entries:  []*tree.Entry{link("passwd", "/etc/passwd")},
			wantErrs: map[string]string{"passwd": "passwd: symlink to absolute path /etc/passwd is not allowed"},
		},
		{
			name:     "parent of the root",
			entries:  []*tree.Entry{link("x", "../x")},
			wantErrs: map[string]string{"x": "x: symlink to ../x: points outside the artifact"},
		},
		{
			name:     "up from a nested directory, one level too far",
			entries:  []*tree.Entry{link("a/b/l", "../../../x")},
			wantErrs: map[string]string{"a/b/l": "points outside the artifact"},
		},
		{
			name:    "up from a nested directory and back in",
			entries: []*tree.Entry{file("top", ""), link("a/b/l", "../../top"), file("sub/f", ""), link("sub/l", "../sub/./f")},
		},
		{
			name:     "escapes through a link to its own directory",
			entries:  []*tree.Entry{dir("a"), link("a/b", "."), link("c", "a/b/../..")},
			wantErrs: map[string]string{"c": "c: symlink to a/b/../..: points outside the artifact"},
		},
		{
			name:     "escapes through a link to the parent",
			entries:  []*tree.Entry{link("s/up", ".."), link("x", "s/up/..")},
			wantErrs: map[string]string{"x": "points outside the artifact"},
		},
		{
			name:    "sibling file",
			entries: []*tree.Entry{file("d/f", "x"), link("d/l", "f")},
		},
		{
			name:    "the root itself",
			entries: []*tree.Entry{link("self", "."), link("sub/root", ".."), link("sub/root2", "../sub/..")},
		},
		{
			name:    "file through a link to a directory",
			entries: []*tree.Entry{file("d/f", "x"), link("ld", "d"), link("l", "ld/f"), link("l2", "./ld//f")},
		},
		{
			name:    "dangling inside",
			entries: []*tree.Entry{link("l", "not-there"), link("d/l", "../missing/x/../y")},
		},
		{
			name:     "dangling and escaping",
			entries:  []*tree.Entry{link("l", "missing/../../x")},
			wantErrs: map[string]string{"l": "points outside the artifact"},
		},
		{
			name:     "escapes through a link after a missing directory",
			entries:  []*tree.Entry{link("s/up", ".."), link("x", "missing/../s/up/..")},
			create:   []string{"missing"},
			wantErrs: map[string]string{"x": "points outside the artifact"},
		},
		{
			name:    "goes through a link to an absolute path",
			entries: []*tree.Entry{link("tmp", "/tmp"), link("b", "tmp/x")},
			wantErrs: map[string]string{
				"tmp": "symlink to absolute path /tmp",
				"b":   "b: symlink to tmp/x: goes through tmp, a symlink to an absolute path",
			},
		},
		{
			name:    "loop of two",
			entries: []*tree.Entry{link("x", "y"), link("y", "x")},
			wantErrs: map[string]string{
				"x": "x: symlink to y: too many levels of symbolic links",
				"y": "y: symlink to x: too many levels of symbolic links",
			},
		},
		{
			name:     "link to itself",
			entries:  []*tree.Entry{link("x", "x")},
			wantErrs: map[string]string{"x": "too many levels of symbolic links"},
		},
		{
			name:     "loop through a directory",
			entries:  []*tree.Entry{dir("d"), link("d/l", "../d/l/x")},
			wantErrs: map[string]string{"d/l": "too many levels of symbolic links"},
		},
		{
			name:    "chain of 40 links is allowed",
			entries: chain(39),
		},
		{
			name:     "chain of 41 links is too long",
			entries:  chain(40),
			wantErrs: map[string]string{"c00": "too many levels of symbolic links"},
		},
		{
			name:    "links that double the work stop at 40 links",
			entries: doubling(40),
			wantErrs: func() map[string]string {
				m := map[string]string{}
				// d04 follows 31 links, d05 63.
				for i := 5; i <= 40; i++ {
					m[fmt.Sprintf("d%02d", i)] = "too many levels of symbolic links"
				}
				return m
			}(),
		},
		{
			name:     "setuid file",
			entries:  []*tree.Entry{{Path: "bin/su", Kind: tree.File, Perm: 0o4755}},
			wantErrs: map[string]string{"bin/su": "bin/su: setuid or setgid file (mode 4755) is not allowed"},
		},
		{
			name:     "setgid file",
			entries:  []*tree.Entry{{Path: "bin/sg", Kind: tree.File, Perm: 0o2711}},
			wantErrs: map[string]string{"bin/sg": "setuid or setgid file (mode 2711)"},
		},
		{
			name: "setgid directory and sticky file are fine",
			entries: []*tree.Entry{
				{Path: "shared", Kind: tree.Dir, Perm: 0o2775},
				{Path: "shared/f", Kind: tree.File, Perm: 0o1644},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := mustNew(t, tt.entries...)
			errs := tr.Check()

			got := map[string]string{}
			var order []string
			for _, err := range errs {
				p, _, ok := strings.Cut(err.Error(), ": ")
				if !ok {
					t.Errorf("got error %q, want it to start with the path", err)
					continue
				}
				got[p] = err.Error()
				order = append(order, p)
			}
			for p, want := range tt.wantErrs {
				if g, ok := got[p]; !ok {
					t.Errorf("%s: got no error, want %q", p, want)
				} else if !strings.Contains(g, want) {
					t.Errorf("%s: got error %q, want %q", p, g, want)
				}
			}
			for p, g := range got {
				if _, ok := tt.wantErrs[p]; !ok {
					t.Errorf("%s: got error %q, want none", p, g)
				}
			}
			for i := 1; i < len(order); i++ {
				if order[i-1] >= order[i] {
					t.Errorf("errors not in path order: %s before %s", order[i-1], order[i])
				}
			}

			checkAgreesWithKernel(t, tr, got, tt.create)
		})
	}
}

// checkAgreesWithKernel writes the tree to disk and resolves every link
// with the kernel: a link it resolves outside the root, or refuses with
// ELOOP, must have been reported by Check.
func checkAgreesWithKernel(t *testing.T, tr *tree.Tree, reported map[string]string, create []string) {
	t.Helper()
	outer := t.TempDir()
	root := filepath.Join(outer, "release")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// Something to find outside the root, so escapes do not dangle.
	if err := os.WriteFile(filepath.Join(outer, "x"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tr.WriteTo(root); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	for _, d := range create {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range tr.Entries() {
		if e.Kind != tree.Symlink {
			continue
		}
		resolved, err := kernelResolve(filepath.Join(root, e.Path))
		switch {
		case errors.Is(err, syscall.ELOOP):
			if _, ok := reported[e.Path]; !ok {
				t.Errorf("%s: the kernel says %v, but Check accepted it", e.Path, err)
			}
		case err != nil:
			// Dangling: nothing to compare.
		case resolved != root && !strings.HasPrefix(resolved, root+"/"):
			if _, ok := reported[e.Path]; !ok {
				t.Errorf("%s: the kernel resolves it to %s, outside %s, but Check accepted it", e.Path, resolved, root)
			}
		}
	}
}

// kernelResolve opens p, following links as the kernel does, and returns
// the path the kernel ended on.
func kernelResolve(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
}

func TestCheckEmptyTree(t *testing.T) {
	if errs := (&tree.Tree{}).Check(); len(errs) != 0 {
		t.Errorf("got %d errors for an empty tree, want none: %v", len(errs), errs)
	}
}

// TestCheckRefusesControlCharacters: a name or link target with a control
// character is reported once, at the entry whose own name holds it,
// escaped; other unusual but printable names pass.
func TestCheckRefusesControlCharacters(t *testing.T) {
	tr := mustNew(t,
		file("ok/two  spaces", ""), file(`ok/back\slash`, ""), file("ok/ünïcödé", ""), file("ok/\xff\xfe", ""),
		file("a\nb", "x"),
		file("dir\rname/inside", "x"),
		file("esc\x1b[31m", "x"),
		file("del\x7f", "x"),
		file("csi\u009b", "x"),
		link("tab", "target\twith tab"),
	)
	want := []string{
		`a\nb: name holds the control character U+000A, which gitfleet does not deploy`,
		`csi\u009b: name holds the control character U+009B`,
		`del\x7f: name holds the control character U+007F`,
		`dir\rname: name holds the control character U+000D`,
		`esc\x1b[31m: name holds the control character U+001B`,
		`tab: symlink target target\twith tab holds the control character U+0009`,
	}
	var got []string
	for _, err := range tr.Check() {
		got = append(got, err.Error())
	}
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("error %d: got %q, want %q", i, got[i], want[i])
		}
		if strings.ContainsAny(got[i], "\n\r\x1b\x7f") {
			t.Errorf("error %d holds a raw control character: %q", i, got[i])
		}
	}
}
