package local_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/executor"
	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/internal/fleettest"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/transport/local"
	"github.com/gitfleet/gitfleet/tree"
)

func TestLocalStage(t *testing.T) {
	ctx := context.Background()
	l := fleettest.NewLocal(t)
	srv := &spec.Server{Name: "web-1"}
	tr := fleettest.AppTree(t, "v1")
	rel := fleet.NewRelease("v1", tr)
	releases := filepath.Join(l.Root, "web-1", "srv", "web", "releases")

	if err := l.Stage(ctx, srv, "/srv/web", rel.ID, tr); err != nil {
		t.Fatalf("Stage: %v", err)
	}
	if got, want := fleettest.Names(t, releases), []string{rel.ID}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got releases %q, want %q (no temporary entries)", got, want)
	}
	staged, err := tree.ReadDir(filepath.Join(releases, rel.ID), tree.Limits{})
	if err != nil {
		t.Fatalf("read the staged release: %v", err)
	}
	if staged.Digest() != tr.Digest() {
		t.Errorf("got staged digest %s, want %s: content, modes or links differ", staged.Digest(), tr.Digest())
	}
	for p, want := range map[string]fs.FileMode{"bin/start": 0o755, "conf/secret": 0o600, "static": 0o555 | fs.ModeDir} {
		fi, err := os.Lstat(filepath.Join(releases, rel.ID, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if fi.Mode() != want {
			t.Errorf("%s: got mode %s, want %s", p, fi.Mode(), want)
		}
	}

	// Staging the same ID again does nothing, even if the tree differs.
	if err := l.Stage(ctx, srv, "/srv/web", rel.ID, fleettest.AppTree(t, "other")); err != nil {
		t.Fatalf("Stage again: %v", err)
	}
	again, err := tree.ReadDir(filepath.Join(releases, rel.ID), tree.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest() != tr.Digest() {
		t.Errorf("staging an existing release changed it")
	}
	if got, want := fleettest.Names(t, releases), []string{rel.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("got releases %q after staging again, want %q", got, want)
	}

	// A second release sits beside the first.
	rel2 := fleet.NewRelease("v2", fleettest.AppTree(t, "v2"))
	if err := l.Stage(ctx, srv, "/srv/web", rel2.ID, rel2.Tree); err != nil {
		t.Fatalf("Stage v2: %v", err)
	}
	st := inspect(t, l, srv, "/srv/web")
	if want := []string{rel.ID, rel2.ID}; !reflect.DeepEqual(st.Staged, want) {
		t.Errorf("got staged %q, want %q", st.Staged, want)
	}
	if st.Current != "" || st.Marker != nil {
		t.Errorf("staging touched current or the marker: %+v", st)
	}
}

func TestLocalStageUnwritableServer(t *testing.T) {
	// Root may write anywhere whatever the modes say, so the server's path is
	// made unwritable by a regular file where a directory must be.
	l := fleettest.NewLocal(t)
	srv := &spec.Server{Name: "web-1"}
	blocker := filepath.Join(l.Root, "web-1", "srv")
	if err := os.MkdirAll(filepath.Dir(blocker), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blocker, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	rel := fleet.NewRelease("v1", fleettest.AppTree(t, "v1"))
	x := &executor.Executor{T: l}
	err := x.Stage(context.Background(), fleet.Request{
		App:     &spec.App{Name: "web", DeployTo: "/srv/web"},
		Server:  srv,
		Release: rel,
	})
	if err == nil {
		t.Fatal("Stage succeeded below a regular file, want an error")
	}
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("got error %v, want one wrapping ENOTDIR", err)
	}
	for _, want := range []string{"stage web v1 on web-1: ", blocker} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got error %q, want it to contain %q", err, want)
		}
	}
	if got, want := fleettest.Walk(t, l.Root), []string{"web-1", "web-1/srv"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q on disk after the failed stage, want only %q", got, want)
	}
	if data, _ := os.ReadFile(blocker); string(data) != "not a directory" {
		t.Errorf("the file in the way was changed to %q", data)
	}
}

func TestLocalStageCanceled(t *testing.T) {
	l := fleettest.NewLocal(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rel := fleet.NewRelease("v1", fleettest.AppTree(t, "v1"))
	err := l.Stage(ctx, &spec.Server{Name: "web-1"}, "/srv/web", rel.ID, rel.Tree)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got error %v, want context.Canceled", err)
	}
	if got := fleettest.Walk(t, l.Root); len(got) != 0 {
		t.Errorf("got %q on disk, want nothing", got)
	}
}

func TestLocalSwitch(t *testing.T) {
	ctx := context.Background()
	l := fleettest.NewLocal(t)
	srv := &spec.Server{Name: "web-1"}
	dir := l.Path(srv, "/srv/web")
	current := filepath.Join(dir, "current")
	a := fleet.NewRelease("v1", fleettest.AppTree(t, "v1"))
	b := fleet.NewRelease("v2", fleettest.AppTree(t, "v2"))
	for _, r := range []fleet.Release{a, b} {
		if err := l.Stage(ctx, srv, "/srv/web", r.ID, r.Tree); err != nil {
			t.Fatal(err)
		}
	}
	readlink := func() string {
		t.Helper()
		got, err := os.Readlink(current)
		if err != nil {
			t.Fatalf("readlink current: %v", err)
		}
		return got
	}

	if err := l.Switch(ctx, srv, "/srv/web", a.ID); err != nil {
		t.Fatalf("Switch(%s): %v", a.ID, err)
	}
	if got, want := readlink(), "releases/"+a.ID; got != want {
		t.Errorf("got current -> %s, want %s", got, want)
	}

	// A reader never sees current missing or half made while it is switched
	// back and forth.
	done := make(chan struct{})
	readerErr := make(chan error, 1)
	go func() {
		defer close(readerErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			got, err := os.Readlink(current)
			if err != nil || (got != "releases/"+a.ID && got != "releases/"+b.ID) {
				readerErr <- fmt.Errorf("reader saw current -> %q, %v", got, err)
				return
			}
		}
	}()
	for i := 0; i < 100; i++ {
		id := b.ID
		if i%2 == 1 {
			id = a.ID
		}
		if err := l.Switch(ctx, srv, "/srv/web", id); err != nil {
			t.Fatalf("Switch(%s): %v", id, err)
		}
	}
	close(done)
	if err := <-readerErr; err != nil {
		t.Error(err)
	}
	if got, want := readlink(), "releases/"+a.ID; got != want {
		t.Errorf("got current -> %s after the last switch, want %s", got, want)
	}
	fleettest.NoTemporaries(t, dir)
	if st := inspect(t, l, srv, "/srv/web"); st.Current != a.ID || st.CurrentTarget != "" {
		t.Errorf("Inspect: got current %q (target %q), want %q", st.Current, st.CurrentTarget, a.ID)
	}

	// A release that is not staged is refused and current stays.
	err := l.Switch(ctx, srv, "/srv/web", "v9-000000000000")
	if err == nil || !strings.Contains(err.Error(), "release v9-000000000000") {
		t.Errorf("got error %v switching to a missing release, want one naming it", err)
	}
	if got, want := readlink(), "releases/"+a.ID; got != want {
		t.Errorf("got current -> %s after a failed switch, want %s", got, want)
	}

	for i := 0; i < 2; i++ { // removing twice is fine
		if err := l.Switch(ctx, srv, "/srv/web", ""); err != nil {
			t.Fatalf("Switch(\"\") #%d: %v", i+1, err)
		}
		if _, err := os.Lstat(current); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v for current after Switch(\"\"), want it gone", err)
		}
	}
	if got := fleettest.Names(t, filepath.Join(dir, "releases")); len(got) != 2 {
		t.Errorf("got releases %q after removing current, want both kept", got)
	}
}

func TestLocalSwitchRecordsWhenReleaseWasMadeCurrent(t *testing.T) {
	ctx := context.Background()
	l := fleettest.NewLocal(t)
	srv := &spec.Server{Name: "web-1"}
	rel := fleet.NewRelease("v1", fleettest.AppTree(t, "v1"))
	if err := l.Stage(ctx, srv, "/srv/web", rel.ID, rel.Tree); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(l.Path(srv, "/srv/web"), "releases", rel.ID)
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	if err := l.Switch(ctx, srv, "/srv/web", rel.ID); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().After(old) {
		t.Errorf("got release time %s after Switch, want it moved past %s so Prune keeps it", fi.ModTime(), old)
	}
}

func inspect(t *testing.T, l *local.Local, srv *spec.Server, deployTo string) *fleet.AppState {
	t.Helper()
	states, err := l.Inspect(context.Background(), srv, []string{deployTo})
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	st := states[deployTo]
	if st == nil {
		t.Fatalf("Inspect returned no state for %s", deployTo)
	}
	return st
}

func TestLocalMarkerRoundTrip(t *testing.T) {
	ctx := context.Background()
	l := fleettest.NewLocal(t)
	srv := &spec.Server{Name: "web-1"}
	at := time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	markers := []*fleet.Marker{
		{Format: fleet.MarkerFormat, App: "web", Environment: "production"},
		{
			Format: fleet.MarkerFormat, App: "web", Environment: "production",
			Release: "v1-aaaaaaaaaaaa", Revision: "r1", ActivatedAt: at, Previous: "v0-bbbbbbbbbbbb",
			Pending: &fleet.Attempt{Release: "v2-cccccccccccc", Previous: "v1-aaaaaaaaaaaa", Revision: "r2", At: at.Add(time.Minute)},
			Failed:  &fleet.Attempt{Release: "v3-dddddddddddd", Revision: "r3", At: at.Add(-time.Hour), Error: "activate web v3: boom"},
		},
	}
	for i, m := range markers {
		if err := l.WriteMarker(ctx, srv, "/srv/web", m); err != nil {
			t.Fatalf("WriteMarker #%d: %v", i+1, err)
		}
		st := inspect(t, l, srv, "/srv/web")
		if st.MarkerErr != "" {
			t.Fatalf("got marker error %q", st.MarkerErr)
		}
		if !reflect.DeepEqual(st.Marker, m) {
			t.Errorf("marker #%d: got %+v, want %+v", i+1, st.Marker, m)
		}
	}
	dir := filepath.Join(l.Path(srv, "/srv/web"), ".gitfleet")
	if got, want := fleettest.Names(t, dir), []string{"state.json"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q in .gitfleet, want %q", got, want)
	}
	fi, err := os.Stat(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o644 {
		t.Errorf("got state.json mode %s, want -rw-r--r--", fi.Mode())
	}
}

func TestLocalInspect(t *testing.T) {
	const (
		a = "v1-aaaaaaaaaaaa"
		b = "v2-bbbbbbbbbbbb"
	)
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mkdirs := func(t *testing.T, base string, dirs ...string) {
		t.Helper()
		for _, d := range dirs {
			must(t, os.MkdirAll(filepath.Join(base, d), 0o755))
		}
	}
	tests := []struct {
		name string
		// setup prepares the server directory srvDir (which does not exist
		// yet); web is srvDir/srv/web.
		setup         func(t *testing.T, srvDir, web string)
		want          map[string]*fleet.AppState
		wantMarkerErr string // prefix of web's MarkerErr
		wantErr       string
		wantErrIs     error
	}{
		{
			name: "server directory does not exist",
			want: map[string]*fleet.AppState{"/srv/web": {}, "/srv/api": {}},
		},
		{
			name: "server path is a regular file",
			setup: func(t *testing.T, srvDir, web string) {
				must(t, os.WriteFile(srvDir, []byte("x"), 0o644))
			},
			wantErr: "is not a directory",
		},
		{
			name: "deployTo below a regular file",
			setup: func(t *testing.T, srvDir, web string) {
				must(t, os.MkdirAll(srvDir, 0o755))
				must(t, os.WriteFile(filepath.Join(srvDir, "srv"), []byte("x"), 0o644))
			},
			wantErrIs: syscall.ENOTDIR,
		},
		{
			name: "current is a release",
			setup: func(t *testing.T, srvDir, web string) {
				mkdirs(t, web, "releases/"+a, "releases/"+b)
				must(t, os.Symlink("releases/"+b, filepath.Join(web, "current")))
			},
			want: map[string]*fleet.AppState{"/srv/web": {Current: b, Staged: []string{a, b}}, "/srv/api": {}},
		},
		{
			name: "current made by hand points elsewhere",
			setup: func(t *testing.T, srvDir, web string) {
				mkdirs(t, web, "releases/"+a)
				must(t, os.Symlink("/opt/web-hotfix", filepath.Join(web, "current")))
			},
			want: map[string]*fleet.AppState{"/srv/web": {CurrentTarget: "/opt/web-hotfix", Staged: []string{a}}, "/srv/api": {}},
		},
		{
			name: "current points into a release",
			setup: func(t *testing.T, srvDir, web string) {
				mkdirs(t, web, "releases/"+a+"/public")
				must(t, os.Symlink("releases/"+a+"/public", filepath.Join(web, "current")))
			},
			want: map[string]*fleet.AppState{"/srv/web": {CurrentTarget: "releases/" + a + "/public", Staged: []string{a}}, "/srv/api": {}},
		},
		{
			name: "current points at a temporary entry",
			setup: func(t *testing.T, srvDir, web string) {
				mkdirs(t, web, "releases/.tmp-"+a+"-0123")
				must(t, os.Symlink("releases/.tmp-"+a+"-0123", filepath.Join(web, "current")))
			},
			want: map[string]*fleet.AppState{"/srv/web": {CurrentTarget: "releases/.tmp-" + a + "-0123"}, "/srv/api": {}},
		},
		{
			name: "current is a directory",
			setup: func(t *testing.T, srvDir, web string) {
				mkdirs(t, web, "current")
			},
			want: map[string]*fleet.AppState{"/srv/web": {CurrentTarget: "(not a symlink)"}, "/srv/api": {}},
		},
		{
			name: "temporary entries and files are not staged",
			setup: func(t *testing.T, srvDir, web string) {
				mkdirs(t, web, "releases/"+b, "releases/"+a, "releases/.tmp-"+b+"-99")
				must(t, os.WriteFile(filepath.Join(web, "releases", "NOTES"), nil, 0o644))
				must(t, os.Symlink(a, filepath.Join(web, "releases", "latest")))
			},
			want: map[string]*fleet.AppState{"/srv/web": {Staged: []string{a, b}}, "/srv/api": {}},
		},
		{
			name: "marker",
			setup: func(t *testing.T, srvDir, web string) {
				mkdirs(t, web, ".gitfleet")
				must(t, os.WriteFile(filepath.Join(web, ".gitfleet", "state.json"),
					[]byte(`{"app":"web","environment":"prod","release":"`+a+`","failed":{"release":"`+b+`","revision":"r2","at":"2026-11-28T09:00:00Z","error":"boom"}}`), 0o644))
			},
			want: map[string]*fleet.AppState{"/srv/web": {Marker: &fleet.Marker{
				App: "web", Environment: "prod", Release: a,
				Failed: &fleet.Attempt{Release: b, Revision: "r2", At: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC), Error: "boom"},
			}}, "/srv/api": {}},
		},
		{
			name: "corrupt marker",
			setup: func(t *testing.T, srvDir, web string) {
				mkdirs(t, web, ".gitfleet")
				must(t, os.WriteFile(filepath.Join(web, ".gitfleet", "state.json"), []byte(`{"app":`), 0o644))
			},
			want:          map[string]*fleet.AppState{"/srv/web": {}, "/srv/api": {}},
			wantMarkerErr: "state.json: ",
		},
		{
			name: "marker of a newer format",
			setup: func(t *testing.T, srvDir, web string) {
				mkdirs(t, web, ".gitfleet")
				must(t, os.WriteFile(filepath.Join(web, ".gitfleet", "state.json"), []byte(`{"format":2,"app":"web"}`), 0o644))
			},
			want:          map[string]*fleet.AppState{"/srv/web": {MarkerNewer: true}, "/srv/api": {}},
			wantMarkerErr: "state.json has format 2, newer than this gitfleet reads (up to 1)",
		},
		{
			name: "marker that cannot be read",
			setup: func(t *testing.T, srvDir, web string) {
				mkdirs(t, web, ".gitfleet/state.json")
			},
			want:          map[string]*fleet.AppState{"/srv/web": {}, "/srv/api": {}},
			wantMarkerErr: "read ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := fleettest.NewLocal(t)
			srv := &spec.Server{Name: "web-1"}
			srvDir := filepath.Join(l.Root, "web-1")
			if tt.setup != nil {
				tt.setup(t, srvDir, filepath.Join(srvDir, "srv", "web"))
			}
			got, err := l.Inspect(context.Background(), srv, []string{"/srv/web", "/srv/api"})
			switch {
			case tt.wantErrIs != nil:
				if !errors.Is(err, tt.wantErrIs) {
					t.Fatalf("got error %v, want one wrapping %v", err, tt.wantErrIs)
				}
				return
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), srvDir) {
					t.Fatalf("got error %v, want %q naming %s", err, tt.wantErr, srvDir)
				}
				return
			case err != nil:
				t.Fatalf("got error %v, want none", err)
			}
			if web := got["/srv/web"]; web != nil {
				if !strings.HasPrefix(web.MarkerErr, tt.wantMarkerErr) || (tt.wantMarkerErr != "" && web.MarkerErr == "") {
					t.Errorf("got marker error %q, want one starting with %q", web.MarkerErr, tt.wantMarkerErr)
				}
				web.MarkerErr = ""
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %s, want %s", dump(got), dump(tt.want))
			}
		})
	}
}

func dump(m map[string]*fleet.AppState) string {
	var b strings.Builder
	for _, k := range []string{"/srv/web", "/srv/api"} {
		fmt.Fprintf(&b, "%s=", k)
		if s := m[k]; s != nil {
			fmt.Fprintf(&b, "%+v", *s)
			if s.Marker != nil {
				fmt.Fprintf(&b, " marker=%+v", *s.Marker)
			}
		} else {
			b.WriteString("nil")
		}
		b.WriteString(" ")
	}
	return b.String()
}

func TestLocalPrune(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		keep []string
		max  int
		// extra adds entries to releases/ beside r1 (oldest) ... r5.
		extra func(t *testing.T, releases string)
		want  []string // what releases/ holds afterwards
	}{
		{name: "keeps the newest up to max", keep: []string{"r5"}, max: 3, want: []string{"r3", "r4", "r5"}},
		{name: "keep wins over age", keep: []string{"r1"}, max: 3, want: []string{"r1", "r4", "r5"}},
		{name: "two kept fill max", keep: []string{"r5", "r1"}, max: 2, want: []string{"r1", "r5"}},
		{name: "keep beyond max", keep: []string{"r2", "r3"}, max: 1, want: []string{"r2", "r3"}},
		{name: "max zero", keep: []string{"r4"}, max: 0, want: []string{"r4"}},
		{name: "nothing beyond max", keep: []string{"r5"}, max: 5, want: []string{"r1", "r2", "r3", "r4", "r5"}},
		{name: "max above count", keep: []string{"r5"}, max: 10, want: []string{"r1", "r2", "r3", "r4", "r5"}},
		{
			name: "temporary leftovers go even when nothing else does",
			keep: []string{"r5"}, max: 10,
			extra: func(t *testing.T, releases string) {
				writeReadOnlyRelease(t, filepath.Join(releases, ".tmp-r6-0123456789ab"))
				if err := os.WriteFile(filepath.Join(releases, ".tmp-stray"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"r1", "r2", "r3", "r4", "r5"},
		},
		{
			name: "a release with read-only directories",
			keep: []string{"r5"}, max: 2,
			extra: func(t *testing.T, releases string) {
				os.RemoveAll(filepath.Join(releases, "r1"))
				writeReadOnlyRelease(t, filepath.Join(releases, "r1"))
				setTime(t, filepath.Join(releases, "r1"), base)
			},
			want: []string{"r4", "r5"},
		},
		{
			name: "files and links in releases are left alone",
			keep: []string{"r5"}, max: 1,
			extra: func(t *testing.T, releases string) {
				if err := os.WriteFile(filepath.Join(releases, "README"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("r1", filepath.Join(releases, "latest")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"README", "latest", "r5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := fleettest.NewLocal(t)
			srv := &spec.Server{Name: "web-1"}
			releases := filepath.Join(l.Path(srv, "/srv/web"), "releases")
			for i := 1; i <= 5; i++ {
				dir := filepath.Join(releases, "r"+strconv.Itoa(i))
				if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
					t.Fatal(err)
				}
				setTime(t, dir, base.Add(time.Duration(i)*time.Hour))
			}
			if tt.extra != nil {
				tt.extra(t, releases)
			}
			if err := l.Prune(context.Background(), srv, "/srv/web", tt.keep, tt.max); err != nil {
				t.Fatalf("Prune: %v", err)
			}
			if got := fleettest.Names(t, releases); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got releases %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLocalPruneWithoutReleases(t *testing.T) {
	l := fleettest.NewLocal(t)
	if err := l.Prune(context.Background(), &spec.Server{Name: "web-1"}, "/srv/web", nil, 3); err != nil {
		t.Errorf("got %v pruning a server with no releases, want no error", err)
	}
}

// writeReadOnlyRelease makes dir hold read-only directories with files in
// them, the way an artifact may.
func writeReadOnlyRelease(t *testing.T, dir string) {
	t.Helper()
	tr, err := tree.New([]*tree.Entry{
		{Path: "static", Kind: tree.Dir, Perm: 0o555},
		{Path: "static/css", Kind: tree.Dir, Perm: 0o500},
		{Path: "static/css/site.css", Kind: tree.File, Perm: 0o444, Data: []byte("p{}")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := tr.WriteTo(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
}

func setTime(t *testing.T, p string, at time.Time) {
	t.Helper()
	if err := os.Chtimes(p, at, at); err != nil {
		t.Fatal(err)
	}
}

func TestLocalRun(t *testing.T) {
	ctx := context.Background()
	l := fleettest.NewLocal(t)
	srv := &spec.Server{Name: "web-1"}
	dir := l.Path(srv, "/srv/web")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GITFLEET_TEST_SECRET", "must-not-leak")

	out, err := l.Run(ctx, srv, "/srv/web", []string{"A=1", "B=two words"}, `pwd; echo "$A/$B"; env`)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	lines := strings.Split(string(out), "\n")
	if lines[0] != dir {
		t.Errorf("got working directory %s, want %s", lines[0], dir)
	}
	if lines[1] != "1/two words" {
		t.Errorf("got %q from the environment, want %q", lines[1], "1/two words")
	}
	if strings.Contains(string(out), "must-not-leak") {
		t.Errorf("the daemon's own environment leaked into the command:\n%s", out)
	}

	out, err = l.Run(ctx, srv, "/srv/web", nil, "echo to-stdout; echo to-stderr >&2; exit 3")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("got error %v, want exit status 3", err)
	}
	if !strings.Contains(string(out), "to-stdout") || !strings.Contains(string(out), "to-stderr") {
		t.Errorf("got output %q, want stdout and stderr", out)
	}
}

func TestLocalRunTimeoutKillsProcessGroup(t *testing.T) {
	l := fleettest.NewLocal(t)
	srv := &spec.Server{Name: "web-1"}
	if err := os.MkdirAll(l.Path(srv, "/srv/web"), 0o755); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// The shell waits for a child that holds its output open: both must go.
	_, err := l.Run(ctx, srv, "/srv/web", nil, "sleep 30 & echo $! > "+pidFile+"; wait")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got error %v, want one wrapping context.DeadlineExceeded", err)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(data))
	if !processEnds(pid) {
		t.Errorf("the command's child %s still runs after the timeout", pid)
	}
}

// processEnds reports whether the process ends (or is a zombie) within a
// generous bound; it is killed with SIGKILL, so it ends at once unless it was
// not killed at all.
func processEnds(pid string) bool {
	for i := 0; i < 200; i++ {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return true
		}
		// The state follows the command name in parentheses.
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && strings.HasPrefix(string(stat[i:]), ") Z") {
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	return false
}
