package executor_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/executor"
	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/internal/fleettest"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/transport"
	"github.com/gitfleet/gitfleet/tree"
)

// confinement is one server, reached over a real transport, whose /srv is
// the directory srv of this machine, and a directory outside it that no
// write may reach.
type confinement struct {
	x       *executor.Executor
	srv     *spec.Server
	srvDir  string // what the server sees as /srv
	outside string
	chown   func(p string) // gives p to the server's login user
}

// writeCase sets up a server, tries one write and says what the refusal
// must read.
type writeCase struct {
	name  string
	setup func(t *testing.T, c *confinement)
	write func(ctx context.Context, c *confinement) error
	want  []string // substrings of the error
	// left is what the outside directory must still hold afterwards (its
	// paths, sorted); nil: it stays empty.
	left []string
}

func (c *confinement) at(p string) string {
	return filepath.Join(c.srvDir, strings.TrimPrefix(p, "/srv/"))
}

// mkdir makes p and its missing parents, all the login user's.
func (c *confinement) mkdir(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); err == nil {
		return
	}
	c.mkdir(t, filepath.Dir(p))
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	c.chown(p)
}

func (c *confinement) link(t *testing.T, target, p string) {
	t.Helper()
	c.mkdir(t, filepath.Dir(p))
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	c.chown(p)
}

func (c *confinement) request(version string) fleet.Request {
	app := &spec.App{Name: "web", DeployTo: "/srv/web", ActivateTimeout: 10 * time.Second, KeepReleases: 5}
	return fleet.Request{Environment: "prod", App: app, Server: c.srv, Release: fleet.NewRelease(version, mustTree(version)),
		Revision: "r1", Log: slog.New(slog.DiscardHandler)}
}

func mustTree(version string) *tree.Tree {
	t, err := tree.New([]*tree.Entry{
		{Path: "VERSION", Kind: tree.File, Perm: 0o644, Data: []byte(version + "\n")},
		{Path: "conf/app.conf", Kind: tree.File, Perm: 0o644, Data: []byte("workers=4\n")},
		{Path: "lib/a.txt", Kind: tree.File, Perm: 0o644, Data: []byte("a " + version + "\n")},
		{Path: "lib/b.txt", Kind: tree.File, Perm: 0o644, Data: []byte("b\n")},
		{Path: "start", Kind: tree.Symlink, Perm: 0o777, Target: "lib/a.txt"},
	})
	if err != nil {
		panic(err)
	}
	return t
}

func (c *confinement) apply(ctx context.Context, p string) error {
	return c.x.ApplyConfig(ctx, fleet.ConfigRequest{Environment: "prod", Server: c.srv, Revision: "r1", Log: slog.New(slog.DiscardHandler),
		Files: []spec.RenderedFile{{Path: p, Data: []byte("written\n"), Mode: 0o640, Digest: strings.Repeat("0", 64)}}})
}

// writeCases are the writes gitfleet makes on a server, each tried where a
// symbolic link leads out of its root or is the root.
func writeCases() []writeCase {
	const id = "v1-000000000000"
	releasesIn := func(t *testing.T, c *confinement, dir string) {
		for _, r := range []string{"v0-000000000001", "v0-000000000002", id} {
			c.mkdir(t, filepath.Join(dir, r))
		}
	}
	return []writeCase{{
		name:  "managed file below a symlinked directory",
		setup: func(t *testing.T, c *confinement) { c.link(t, c.outside, c.at("/srv/etc/link")) },
		write: func(ctx context.Context, c *confinement) error { return c.apply(ctx, "/srv/etc/link/x.conf") },
		want:  []string{"/srv/etc/link/x.conf: refused: /srv/etc/link is a symbolic link that does not resolve inside /srv/etc"},
	}, {
		name:  "managed file deeper below a symlinked directory",
		setup: func(t *testing.T, c *confinement) { c.link(t, c.outside, c.at("/srv/etc/app/link")) },
		write: func(ctx context.Context, c *confinement) error { return c.apply(ctx, "/srv/etc/app/link/sub/x.conf") },
		want:  []string{"/srv/etc/app/link is a symbolic link that does not resolve inside /srv/etc"},
	}, {
		name:  "env file in a symlinked root",
		setup: func(t *testing.T, c *confinement) { c.link(t, c.outside, c.at("/srv/etc")) },
		write: func(ctx context.Context, c *confinement) error { return c.apply(ctx, "/srv/etc/env") },
		want:  []string{"/srv/etc/env: refused: its root /srv/etc is a symbolic link"},
	}, {
		name:  "staging into a symlinked deployTo",
		setup: func(t *testing.T, c *confinement) { c.link(t, c.outside, c.at("/srv/web")) },
		write: func(ctx context.Context, c *confinement) error { return c.x.Stage(ctx, c.request("v1")) },
		want:  []string{"stage web v1 on web-1: /srv/web/releases/v1-", "its root /srv/web is a symbolic link"},
	}, {
		name:  "staging through a symlinked releases",
		setup: func(t *testing.T, c *confinement) { c.link(t, c.outside, c.at("/srv/web/releases")) },
		write: func(ctx context.Context, c *confinement) error { return c.x.Stage(ctx, c.request("v1")) },
		want:  []string{"/srv/web/releases is a symbolic link that does not resolve inside /srv/web"},
	}, {
		name:  "marker through a symlinked .gitfleet",
		setup: func(t *testing.T, c *confinement) { c.link(t, c.outside, c.at("/srv/web/.gitfleet")) },
		write: func(ctx context.Context, c *confinement) error {
			return c.x.T.WriteMarker(ctx, c.srv, "/srv/web", &fleet.Marker{App: "web", Environment: "prod"})
		},
		want: []string{"/srv/web/.gitfleet/state.json: refused: /srv/web/.gitfleet is a symbolic link that does not resolve inside /srv/web"},
	}, {
		name:  "marker in a symlinked deployTo",
		setup: func(t *testing.T, c *confinement) { c.link(t, c.outside, c.at("/srv/web")) },
		write: func(ctx context.Context, c *confinement) error {
			return c.x.T.WriteMarker(ctx, c.srv, "/srv/web", &fleet.Marker{App: "web", Environment: "prod"})
		},
		want: []string{"its root /srv/web is a symbolic link"},
	}, {
		name: "current in a symlinked deployTo",
		setup: func(t *testing.T, c *confinement) {
			c.mkdir(t, filepath.Join(c.outside, "releases", id))
			c.link(t, c.outside, c.at("/srv/web"))
		},
		write: func(ctx context.Context, c *confinement) error { return c.x.T.Switch(ctx, c.srv, "/srv/web", id) },
		want:  []string{"/srv/web/current: refused: its root /srv/web is a symbolic link"},
		left:  []string{"releases", "releases/" + id},
	}, {
		name: "switching to a release whose directory leads out",
		setup: func(t *testing.T, c *confinement) {
			c.mkdir(t, filepath.Join(c.outside, id))
			c.link(t, filepath.Join(c.outside, id), c.at("/srv/web/releases/"+id))
		},
		write: func(ctx context.Context, c *confinement) error { return c.x.T.Switch(ctx, c.srv, "/srv/web", id) },
		want:  []string{"/srv/web/releases/" + id + " is a symbolic link that does not resolve inside /srv/web"},
		left:  []string{id},
	}, {
		name: "pruning through a symlinked releases",
		setup: func(t *testing.T, c *confinement) {
			releasesIn(t, c, c.outside)
			c.link(t, c.outside, c.at("/srv/web/releases"))
		},
		write: func(ctx context.Context, c *confinement) error {
			return c.x.T.Prune(ctx, c.srv, "/srv/web", []string{id}, 1)
		},
		want: []string{"/srv/web/releases is a symbolic link that does not resolve inside /srv/web"},
		left: []string{"v0-000000000001", "v0-000000000002", id},
	}, {
		name: "pruning in a symlinked deployTo",
		setup: func(t *testing.T, c *confinement) {
			releasesIn(t, c, filepath.Join(c.outside, "releases"))
			c.link(t, c.outside, c.at("/srv/web"))
		},
		write: func(ctx context.Context, c *confinement) error {
			return c.x.T.Prune(ctx, c.srv, "/srv/web", []string{id}, 1)
		},
		want: []string{"its root /srv/web is a symbolic link"},
		left: []string{"releases", "releases/v0-000000000001", "releases/v0-000000000002", "releases/" + id},
	}, {
		name: "healing a release whose directory was swapped for a link out",
		setup: func(t *testing.T, c *confinement) {
			ctx := context.Background()
			r := c.request("v1")
			if err := c.x.Stage(ctx, r); err != nil {
				t.Fatal(err)
			}
			conf := c.at("/srv/web/releases/" + r.Release.ID + "/conf")
			if err := os.RemoveAll(conf); err != nil {
				t.Fatal(err)
			}
			c.link(t, c.outside, conf)
		},
		write: func(ctx context.Context, c *confinement) error {
			return c.x.Heal(ctx, c.request("v1"), []string{"conf/app.conf"})
		},
		want: []string{"heal web on web-1: /srv/web/releases/v1-", "/conf/app.conf: refused: /srv/web/releases/v1-", "/conf is a symbolic link that does not resolve inside /srv/web"},
	}, {
		name: "removing files not in a release through a link out",
		setup: func(t *testing.T, c *confinement) {
			ctx := context.Background()
			r := c.request("v1")
			if err := c.x.Stage(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(c.outside, "precious"), []byte("keep me\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			c.chown(filepath.Join(c.outside, "precious"))
			c.link(t, c.outside, c.at("/srv/web/releases/"+r.Release.ID+"/extra"))
		},
		write: func(ctx context.Context, c *confinement) error {
			return c.x.Heal(ctx, c.request("v1"), []string{"extra/precious"})
		},
		want: []string{"remove files not in the release", "/extra is a symbolic link that does not resolve inside /srv/web"},
		left: []string{"precious"},
	}}
}

// testWritesStayInside runs every write case on a fresh server directory:
// each must be refused with the path and the reason, and leave the outside
// directory as it was.
func testWritesStayInside(t *testing.T, newServer func(t *testing.T) *confinement) {
	for _, tc := range writeCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := newServer(t)
			tc.setup(t, c)
			err := tc.write(context.Background(), c)
			if !errors.Is(err, transport.ErrOutsideRoot) {
				t.Fatalf("got %v, want a refusal (ErrOutsideRoot); outside holds %v", err, fleettest.Walk(t, c.outside))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			got := fleettest.Walk(t, c.outside)
			slices.Sort(got)
			if !slices.Equal(got, tc.left) {
				t.Errorf("outside the root: got %v, want %v", got, tc.left)
			}
		})
	}
}

// testInsideLinksFollowed: a link below the root that resolves inside it
// is followed, and a write that stays inside goes ahead.
func testInsideLinksFollowed(t *testing.T, c *confinement) {
	c.mkdir(t, c.at("/srv/etc/real"))
	c.link(t, "real", c.at("/srv/etc/web"))
	if err := c.apply(context.Background(), "/srv/etc/web/app.conf"); err != nil {
		t.Fatalf("write through a link inside the root: %v", err)
	}
	if b, err := os.ReadFile(c.at("/srv/etc/real/app.conf")); err != nil || string(b) != "written\n" {
		t.Errorf("real/app.conf: %q, %v", b, err)
	}
	if fi, err := os.Lstat(c.at("/srv/etc/web")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link inside the root was replaced: %v %v", fi, err)
	}
}

func localConfinement(t *testing.T) *confinement {
	l := fleettest.NewLocal(t)
	srv := &spec.Server{Name: "web-1"}
	c := &confinement{
		x:       &executor.Executor{T: l, ConfigRoots: []string{"/srv/etc"}},
		srv:     srv,
		srvDir:  l.Path(srv, "/srv"),
		outside: t.TempDir(),
		chown:   func(string) {},
	}
	c.mkdir(t, c.srvDir)
	return c
}

func TestLocalWritesStayInsideTheirRoot(t *testing.T) {
	testWritesStayInside(t, localConfinement)
	t.Run("a link inside the root is followed", func(t *testing.T) { testInsideLinksFollowed(t, localConfinement(t)) })
}

// sshConfinement starts one sshd server and gives each case a fresh one:
// its /srv emptied, a new directory outside it.
func sshConfinement(t *testing.T) func(t *testing.T) *confinement {
	f, tr, servers := sshFleet(t, 1)
	u, err := user.Lookup(f.User)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	chown := func(p string) { os.Lchown(p, uid, gid) }
	x := &executor.Executor{T: tr, ConfigRoots: []string{"/srv/etc"}}
	return func(t *testing.T) *confinement {
		root := f.Servers[0].Root
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			removeTree(t, filepath.Join(root, e.Name()))
		}
		// Outside /srv, where the login user could write if a write
		// went there.
		outside, err := os.MkdirTemp(f.Dir, "outside-")
		if err != nil {
			t.Fatal(err)
		}
		chown(outside)
		t.Cleanup(func() { removeTree(t, outside) })
		return &confinement{x: x, srv: servers[0], srvDir: root, outside: outside, chown: chown}
	}
}

// removeTree removes p even when some of its directories are read-only.
func removeTree(t *testing.T, p string) {
	filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(q, 0o700)
		}
		return nil
	})
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

func TestSSHWritesStayInsideTheirRoot(t *testing.T) {
	newServer := sshConfinement(t)
	testWritesStayInside(t, newServer)
	t.Run("a link inside the root is followed", func(t *testing.T) { testInsideLinksFollowed(t, newServer(t)) })
}

// TestSSHStageFromATamperedBase: a directory of the release a new one is
// built from was swapped for a link out of it since it was staged. The
// copy of the base is refused, the release is sent whole, and nothing
// outside is removed or written.
func TestSSHStageFromATamperedBase(t *testing.T) {
	newServer := sshConfinement(t)
	c := newServer(t)
	ctx := context.Background()
	v1 := c.request("v1")
	if err := c.x.Stage(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if err := c.x.T.Switch(ctx, c.srv, "/srv/web", v1.Release.ID); err != nil {
		t.Fatal(err)
	}
	lib := c.at("/srv/web/releases/" + v1.Release.ID + "/lib")
	for _, name := range []string{"a.txt", "b.txt"} {
		p := filepath.Join(c.outside, name)
		if err := os.WriteFile(p, []byte("outside "+name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c.chown(p)
	}
	removeTree(t, lib)
	c.link(t, c.outside, lib)

	v2 := c.request("v2") // changes lib/a.txt
	if err := c.x.Stage(ctx, v2); err != nil {
		t.Fatalf("stage v2 from a tampered base: %v", err)
	}
	for _, name := range []string{"a.txt", "b.txt"} {
		if b, err := os.ReadFile(filepath.Join(c.outside, name)); err != nil || string(b) != "outside "+name+"\n" {
			t.Errorf("outside %s: %q, %v; want it untouched", name, b, err)
		}
	}
	if got := fleettest.Walk(t, c.outside); !slices.Equal(got, []string{"a.txt", "b.txt"}) {
		t.Errorf("outside holds %v, want only a.txt and b.txt", got)
	}
	got, err := tree.ReadDir(c.at("/srv/web/releases/"+v2.Release.ID), tree.Limits{})
	if err != nil || got.Digest() != v2.Release.Tree.Digest() {
		t.Errorf("v2 on the server differs from the release (%v)", err)
	}
}
