package executor_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/tree"
)

// testContentCheckReadsEveryName checks a release whose names are legal
// but awkward for line-oriented tools, then one where files with a newline
// or a backslash in their names were put beside them on the server: the
// check reports exactly what differs, healing removes it, and the next
// check finds nothing (no drift reported for ever).
func testContentCheckReadsEveryName(t *testing.T, c *confinement) {
	ctx := context.Background()
	names := []string{"VERSION", "two  spaces.txt", `back\slash.txt`, `looks\nescaped`, "-dash", "trailing ", "ünïcödé"}
	var entries []*tree.Entry
	for _, n := range names {
		entries = append(entries, &tree.Entry{Path: "d/" + n, Kind: tree.File, Perm: 0o644, Data: []byte(n + "\n")})
	}
	tr, err := tree.New(entries)
	if err != nil {
		t.Fatal(err)
	}
	r := c.request("v1")
	r.Release = fleet.NewRelease("v1", tr)
	if err := c.x.Stage(ctx, r); err != nil {
		t.Fatal(err)
	}
	check := func(want ...string) {
		t.Helper()
		got, err := c.x.Verify(ctx, c.srv, r.App, r.Release)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("content check: got %q, want %q", got, want)
		}
	}
	check()

	dir := c.at("/srv/web/releases/" + r.Release.ID + "/d")
	planted := []string{"planted\nname", `planted\back`, "planted\nVERSION"}
	for _, n := range planted {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("planted\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "two  spaces.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := []string{"d/planted\nVERSION", "d/planted\nname", `d/planted\back`, "d/two  spaces.txt"}
	check(want...)
	if err := c.x.Heal(ctx, r, want); err != nil {
		t.Fatalf("heal: %v", err)
	}
	check()
	for _, n := range planted {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			t.Errorf("%q is still there after healing", n)
		}
	}
}

func TestLocalContentCheckReadsEveryName(t *testing.T) {
	testContentCheckReadsEveryName(t, localConfinement(t))
}

func TestSSHContentCheckReadsEveryName(t *testing.T) {
	testContentCheckReadsEveryName(t, sshConfinement(t)(t))
}
