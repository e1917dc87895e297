package source

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// moveTag points tag at a new commit on the remote, as `git tag -f` and a
// forced push do.
func moveTag(r *gittest.Remote, tag, content string) string {
	r.Write(map[string]string{"v": content})
	c := r.Commit("moved " + tag)
	r.Run("tag", "-f", "-a", tag, "-m", "moved")
	r.Push()
	return c
}

// TestGitMovedTagIsFollowedLoggedAndCounted moves the followed tag on a
// remote served over smart HTTP: the new commit is followed, a warning
// names both commits, and the move is counted once, also when the daemon
// restarts on its repository. A semver source going on to a higher tag is
// not a move.
func TestGitMovedTagIsFollowedLoggedAndCounted(t *testing.T) {
	root := t.TempDir()
	r := gittest.NewRemote(t, root, "fleet")
	r.Write(map[string]string{"v": "1"})
	c1 := r.Commit("one")
	r.Run("tag", "-a", "v1.0.0", "-m", "v1.0.0")
	r.Push()
	srv := gittest.Serve(t, root, "", "")
	url := srv.URL + "/fleet.git"

	g, m := newGit(t, url, GitRef{Tag: "v1.0.0"})
	logs := &lockedBuffer{}
	g.Log = slog.New(slog.NewTextHandler(logs, nil))
	if s := pollGit(t, g); s.Revision != c1 {
		t.Fatalf("got %s, want %s", s.Revision, c1)
	}
	c2 := moveTag(r, "v1.0.0", "2")
	if s := pollGit(t, g); s.Revision != c2 || content(t, s, "v") != "2" {
		t.Fatalf("after the tag moved: got %s, want the new commit %s followed", s.Revision, c2)
	}
	if m.tagMoves != 1 {
		t.Errorf("got %d tag moves counted, want 1", m.tagMoves)
	}
	line := logs.String()
	if !strings.Contains(line, "level=WARN") || !strings.Contains(line, `msg="tag moved: following it"`) ||
		!strings.Contains(line, "from="+c1) || !strings.Contains(line, "to="+c2) || !strings.Contains(line, "tag=v1.0.0") {
		t.Errorf("want a warning naming the tag, the old and the new commit, got:\n%s", line)
	}
	pollGit(t, g)
	if m.tagMoves != 1 {
		t.Errorf("an unchanged tag was counted again: %d moves", m.tagMoves)
	}

	// Moved while the daemon was down: the record is in its repository.
	c3 := moveTag(r, "v1.0.0", "3")
	g2, m2 := newGit(t, url, GitRef{Tag: "v1.0.0"})
	g2.Dir = g.Dir
	if s := pollGit(t, g2); s.Revision != c3 || m2.tagMoves != 1 {
		t.Errorf("after a restart: got %s with %d moves, want %s with 1", s.Revision, m2.tagMoves, c3)
	}

	// semver: a higher tag is no move; the chosen tag moving is one.
	g3, m3 := newGit(t, url, GitRef{Semver: ">=1.0.0"})
	pollGit(t, g3)
	r.Write(map[string]string{"v": "1.1"})
	c11 := r.Commit("1.1")
	r.Run("tag", "v1.1.0")
	r.Push()
	if s := pollGit(t, g3); s.Revision != c11 || m3.tagMoves != 0 {
		t.Fatalf("semver to a higher tag: got %s with %d moves, want %s with none", s.Revision, m3.tagMoves, c11)
	}
	c4 := moveTag(r, "v1.1.0", "1.1 again")
	if s := pollGit(t, g3); s.Revision != c4 || m3.tagMoves != 1 {
		t.Errorf("semver, chosen tag moved: got %s with %d moves, want %s with 1", s.Revision, m3.tagMoves, c4)
	}
}

// TestGitMovedTagIsRefused: with RefuseMovedTags a moved tag fails every
// poll (reason tag_moved) and the source keeps its last snapshot, until the
// tag names the commit taken again.
func TestGitMovedTagIsRefused(t *testing.T) {
	root := t.TempDir()
	r := gittest.NewRemote(t, root, "fleet")
	r.Write(map[string]string{"v": "1"})
	c1 := r.Commit("one")
	r.Run("tag", "v1")
	r.Push()
	srv := gittest.Serve(t, root, "", "")

	g, m := newGit(t, srv.URL+"/fleet.git", GitRef{Tag: "v1"})
	g.RefuseMovedTags = true
	first := pollGit(t, g)
	c2 := moveTag(r, "v1", "2")
	for i := 0; i < 2; i++ {
		_, err := g.Snapshot(context.Background())
		var pe *PollError
		want := "tag v1 moved from " + c1[:12] + " to " + c2[:12] + "; refuseMovedTags refuses it"
		if !errors.As(err, &pe) || pe.Reason != ReasonTagMoved || err.Error() != want {
			t.Fatalf("poll %d: got %v, want the poll error %q", i+1, err, want)
		}
	}
	if g.last != first || m.tagMoves != 0 || m.fetches[len(m.fetches)-1] != ReasonTagMoved {
		t.Errorf("last snapshot %v (want the first), %d moves counted (want 0: refused), fetches %v", g.last.Revision, m.tagMoves, m.fetches)
	}
	// Moved back: taken again.
	r.Run("tag", "-f", "v1", c1)
	r.Push()
	if s := pollGit(t, g); s.Revision != c1 {
		t.Errorf("tag moved back: got %s, want %s", s.Revision, c1)
	}
}
