package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gitfleet/gitfleet/internal/retry"
	"github.com/gitfleet/gitfleet/tree"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// GitRef is what a Git source follows. Exactly one of Branch, Tag, Semver
// and Commit is set.
type GitRef struct {
	Branch string
	Tag    string
	// Semver is a constraint (">=1.4.0 <2.0.0") matched against the
	// remote's tags; the highest match wins. Pre-releases match only when
	// Prereleases is set or the constraint names one.
	Semver      string
	Prereleases bool
	Commit      string
}

func (r GitRef) String() string {
	switch {
	case r.Branch != "":
		return "branch " + r.Branch
	case r.Tag != "":
		return "tag " + r.Tag
	case r.Semver != "":
		return "semver " + r.Semver
	}
	return "commit " + r.Commit
}

// Kind is "branch", "tag", "semver" or "commit".
func (r GitRef) Kind() string {
	k, _, _ := strings.Cut(r.String(), " ")
	return k
}

// Tracks reports whether a push to the full reference name (refs/heads/x,
// refs/tags/v1) may move what the source follows.
func (r GitRef) Tracks(ref string) bool {
	switch {
	case r.Branch != "":
		return ref == "refs/heads/"+r.Branch
	case r.Tag != "":
		return ref == "refs/tags/"+r.Tag
	case r.Semver != "":
		return strings.HasPrefix(ref, "refs/tags/")
	}
	return false
}

// Git is desired state kept in a Git repository. It is fetched with go-git
// into one bare repository in the state directory; the snapshot is read
// straight from its object store.
type Git struct {
	URL  string
	Ref  GitRef
	Path string // sub-directory holding the desired state; "" for the root
	// Dir is the source's own directory in the state directory.
	Dir      string
	Auth     *GitAuth
	Interval time.Duration // between polls, jittered by ±10%
	Timeout  time.Duration // bound of one Git operation
	Verify   *Verifier     // nil: no signature checks
	// RequireFastForward refuses a branch that moved to a commit not
	// descending from the last one taken.
	RequireFastForward bool
	// RefuseMovedTags refuses a tag (tag or semver source) that names
	// another commit than when it was last taken. Without it a moved tag
	// is followed, logged and counted.
	RefuseMovedTags bool
	Limits          tree.Limits
	Log             *slog.Logger
	Metrics         Metrics
	// Reauth, when set, reads the credentials again: before the
	// repository is opened again after they were refused.
	Reauth func() (*GitAuth, error)
	// Inputs, when set, names the state of what a poll depends on beyond
	// the remote (gitfleet.yaml, credential files): a change wakes a watch
	// stalled on refused credentials. It is looked at every InputCheck
	// (default DefaultInputCheck).
	Inputs     func() string
	InputCheck time.Duration
	// StallCap is the wait after credentials were refused, when no input
	// changes (default retry.DefaultStallCap).
	StallCap time.Duration

	stalledOn  plumbing.Hash // the commit a Stalling failure was met at
	stalledErr error
	authStale  bool // credentials were refused: read them again

	mu   sync.Mutex // one poll at a time
	repo *gitRepo
	last *Snapshot // the last snapshot handed out
	wake chan struct{}
	once sync.Once
}

// Metrics is what a Git source reports; metrics.Metrics implements it.
type Metrics interface {
	FetchDone(d time.Duration, reason string) // reason "" on success
	ForcePush()
	TagMoved()
	SourceRevision(source, ref, commit string, now time.Time)
}

// Reasons a poll fails, for metrics and logs.
const (
	ReasonTimeout        = "timeout"
	ReasonAuth           = "auth"
	ReasonNotFound       = "not_found"
	ReasonNetwork        = "network"
	ReasonVerify         = "verify"
	ReasonNonFastForward = "non_fast_forward"
	ReasonTagMoved       = "tag_moved"
	ReasonTree           = "tree"
	ReasonTooLarge       = "too_large"
	ReasonOther          = "other"
)

// PollError is a failed poll with its reason.
type PollError struct {
	Reason string
	Err    error
}

func (e *PollError) Error() string { return e.Err.Error() }

func (e *PollError) Unwrap() error { return e.Err }

// Local references of the repository.
const (
	refTracked = plumbing.ReferenceName("refs/gitfleet/tracked") // what was fetched
	refLast    = plumbing.ReferenceName("refs/gitfleet/last")    // the last commit handed out
	// refTagPrefix + T is the commit tag T gave when it was last handed
	// out, against which a moved tag is told.
	refTagPrefix = "refs/gitfleet/tags/"
)

// Origin names the source for logs and plans, without credentials.
func (g *Git) Origin() string {
	o := "git " + RedactURL(g.URL) + " " + g.Ref.String()
	if g.Path != "" {
		o += " path " + g.Path
	}
	return o
}

// Snapshot polls the remote once: it lists the remote's references, fetches
// only when the followed one moved, verifies, and reads the tree.
func (g *Git) Snapshot(ctx context.Context) (snap *Snapshot, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	start := time.Now()
	var listed plumbing.Hash // what the remote named, once listed
	defer func() {
		reason := ""
		if err != nil {
			reason = classify(err)
			g.noteStall(err, reason, listed)
			if !errors.Is(err, errStillStalled) {
				err = &PollError{Reason: reason, Err: redactErr(err, g.URL, g.Auth.secrets()...)}
			}
		} else {
			g.stalledOn, g.stalledErr = plumbing.ZeroHash, nil
		}
		if g.Metrics != nil {
			g.Metrics.FetchDone(time.Since(start), reason)
		}
	}()

	if g.repo == nil {
		if g.authStale && g.Reauth != nil {
			a, err := g.Reauth()
			if err != nil {
				return nil, err
			}
			g.Auth, g.authStale = a, false
		}
		auth, err := g.Auth.method(g.URL)
		if err != nil {
			return nil, err
		}
		if g.repo, err = openGitRepo(g.Dir, g.URL, auth, g.Limits.WithDefaults().MaxBytes); err != nil {
			return nil, err
		}
	}
	lctx, cancel := context.WithTimeout(ctx, g.timeout())
	refs, err := g.repo.list(lctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", g.URL, err)
	}
	want, err := g.pick(refs)
	if err != nil {
		return nil, err
	}
	listed = want.hash
	if g.stalledErr != nil && listed == g.stalledOn {
		return nil, &stalledError{g.stalledErr}
	}
	if err := g.fetch(ctx, want); err != nil {
		return nil, err
	}
	commit, tag, err := g.resolve(want)
	if err != nil {
		return nil, err
	}
	if g.Verify != nil {
		if err := g.verify(commit, tag); err != nil {
			return nil, err
		}
	}
	if err := g.checkFastForward(commit); err != nil {
		return nil, err
	}
	if err := g.checkTagMoved(want, commit); err != nil {
		return nil, err
	}
	if last := g.last; last != nil && last.Revision == commit.Hash.String() {
		// Unchanged: the tree read last time is still the tree.
		g.noteRevision(want, commit)
		return last, g.recordTag(want, commit.Hash)
	}
	t, err := g.repo.readTree(commit.Hash, g.Path, g.Limits)
	if err != nil {
		return nil, &PollError{Reason: ReasonTree, Err: fmt.Errorf("read %s at %s: %w", g.Ref, commit.Hash.String()[:12], err)}
	}
	if err := g.repo.setRef(refLast, commit.Hash); err != nil {
		return nil, err
	}
	if err := g.recordTag(want, commit.Hash); err != nil {
		return nil, err
	}
	g.noteRevision(want, commit)
	g.last = &Snapshot{
		Revision: commit.Hash.String(),
		Origin:   g.Origin(),
		Tree:     t,
		Read:     time.Now(),
		Author:   commit.Author.Name + " <" + commit.Author.Email + ">",
		Message:  firstLine(commit.Message),
	}
	return g.last, nil
}

// noteStall remembers a Stalling failure met at the commit the remote
// listed, so that the next polls do not try it again until the remote
// moves; refused credentials make the repository open again, with the
// credentials read again.
func (g *Git) noteStall(err error, reason string, listed plumbing.Hash) {
	if reason == ReasonAuth {
		g.repo, g.authStale = nil, true
		return
	}
	if errors.Is(err, errStillStalled) || listed.IsZero() || RetryKind(err) != retry.KindStalling {
		return
	}
	g.stalledOn, g.stalledErr = listed, &PollError{Reason: reason, Err: redactErr(err, g.URL, g.Auth.secrets()...)}
}

func (g *Git) noteRevision(w wanted, c *object.Commit) {
	if g.Metrics != nil {
		g.Metrics.SourceRevision(RedactURL(g.URL), w.label, c.Hash.String(), time.Now())
	}
}

func (g *Git) timeout() time.Duration {
	if g.Timeout <= 0 {
		return 60 * time.Second
	}
	return g.Timeout
}

// wanted is the remote reference chosen to follow.
type wanted struct {
	remote plumbing.ReferenceName // "" for a bare commit
	hash   plumbing.Hash          // what the remote advertises (tag object or commit)
	label  string                 // ref label for metrics: the branch, tag or commit
}

// pick chooses the remote reference to follow from the advertised ones.
func (g *Git) pick(refs []*plumbing.Reference) (wanted, error) {
	byName := make(map[plumbing.ReferenceName]plumbing.Hash, len(refs))
	for _, r := range refs {
		if r.Type() == plumbing.HashReference {
			byName[r.Name()] = r.Hash()
		}
	}
	switch r := g.Ref; {
	case r.Branch != "":
		name := plumbing.NewBranchReferenceName(r.Branch)
		h, ok := byName[name]
		if !ok {
			return wanted{}, &PollError{Reason: ReasonNotFound, Err: fmt.Errorf("branch %s not found on %s", r.Branch, RedactURL(g.URL))}
		}
		return wanted{name, h, r.Branch}, nil
	case r.Tag != "":
		name := plumbing.NewTagReferenceName(r.Tag)
		h, ok := byName[name]
		if !ok {
			return wanted{}, &PollError{Reason: ReasonNotFound, Err: fmt.Errorf("tag %s not found on %s", r.Tag, RedactURL(g.URL))}
		}
		return wanted{name, h, r.Tag}, nil
	case r.Semver != "":
		tag, err := highestTag(byName, r.Semver, r.Prereleases)
		if err != nil {
			return wanted{}, &PollError{Reason: ReasonNotFound, Err: fmt.Errorf("%s on %s: %w", g.Ref, RedactURL(g.URL), err)}
		}
		name := plumbing.NewTagReferenceName(tag)
		return wanted{name, byName[name], tag}, nil
	}
	return wanted{hash: plumbing.NewHash(g.Ref.Commit), label: g.Ref.Commit}, nil
}

// highestTag returns the highest tag matching the constraint.
func highestTag(refs map[plumbing.ReferenceName]plumbing.Hash, constraint string, pre bool) (string, error) {
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return "", err
	}
	c.IncludePrerelease = pre
	type cand struct {
		tag string
		v   *semver.Version
	}
	var cands []cand
	for name := range refs {
		if !name.IsTag() {
			continue
		}
		tag := name.Short()
		v, err := semver.NewVersion(tag)
		if err != nil || !c.Check(v) {
			continue
		}
		cands = append(cands, cand{tag, v})
	}
	if len(cands) == 0 {
		return "", errors.New("no tag matches")
	}
	sort.Slice(cands, func(i, j int) bool {
		if cmp := cands[i].v.Compare(cands[j].v); cmp != 0 {
			return cmp > 0
		}
		return cands[i].tag > cands[j].tag // v1.0.0 over 1.0.0, stable
	})
	return cands[0].tag, nil
}

// fetch brings the wanted object into the repository unless it is there.
func (g *Git) fetch(ctx context.Context, w wanted) error {
	if g.repo.ref(refTracked) == w.hash && g.repo.hasObject(w.hash) {
		return nil // the followed reference did not move
	}
	var spec gitconfig.RefSpec
	depth := 1
	if w.remote != "" {
		spec = gitconfig.RefSpec("+" + w.remote.String() + ":" + refTracked.String())
		// A branch already fetched is fetched without depth: the commits
		// between the old and new tips come along, which proves (or
		// disproves) a fast-forward.
		if g.Ref.Branch != "" && !g.repo.ref(refTracked).IsZero() {
			depth = 0
		}
	} else {
		spec = gitconfig.RefSpec(w.hash.String() + ":" + refTracked.String())
	}
	fctx, cancel := context.WithTimeout(ctx, g.timeout())
	defer cancel()
	err := g.repo.fetch(fctx, []gitconfig.RefSpec{spec}, depth)
	if err == nil && !g.repo.hasObject(w.hash) {
		// The server took us for having it (we have a descendant), but
		// a shallow repository lacks it.
		err = fmt.Errorf("%s: %w", w.hash, plumbing.ErrObjectNotFound)
	}
	if err != nil && g.repo.isShallow() && isObjectNotFound(err) {
		// A shallow repository cannot always follow a force push to an
		// older commit: start again with a fresh clone.
		g.log().Warn("fetch into shallow repository failed; cloning afresh", "origin", g.Origin(), "err", redactErr(err, g.URL, g.Auth.secrets()...))
		last := g.repo.ref(refLast)
		if rerr := g.repo.reset(); rerr != nil {
			return rerr
		}
		if !last.IsZero() {
			// Keep the last commit handed out, to tell a rewrite.
			if rerr := g.repo.setRef(refLast, last); rerr != nil {
				return rerr
			}
		}
		err = g.repo.fetch(fctx, []gitconfig.RefSpec{spec}, 1)
	}
	if err != nil && w.remote == "" && errors.Is(err, gitErrExactSHA1NotSupported) {
		// The server does not serve single commits: fetch its branches.
		err = g.repo.fetch(fctx, []gitconfig.RefSpec{"+refs/heads/*:refs/gitfleet/heads/*"}, 0)
		if err == nil && !g.repo.hasCommit(w.hash) {
			return &PollError{Reason: ReasonNotFound, Err: fmt.Errorf("commit %s is on no branch of %s", w.hash, RedactURL(g.URL))}
		}
		if err == nil {
			err = g.repo.setRef(refTracked, w.hash)
		}
	}
	if err != nil {
		return fmt.Errorf("fetch %s from %s: %w", g.Ref, g.URL, err)
	}
	return nil
}

// resolve peels the fetched reference to its commit, and its annotated tag
// if there is one.
func (g *Git) resolve(w wanted) (*object.Commit, *object.Tag, error) {
	if t, err := g.repo.r.TagObject(w.hash); err == nil {
		c, err := t.Commit()
		if err != nil {
			return nil, nil, fmt.Errorf("tag %s: %w", t.Name, err)
		}
		return c, t, nil
	}
	c, err := g.repo.r.CommitObject(w.hash)
	if err != nil {
		return nil, nil, &PollError{Reason: ReasonNotFound, Err: fmt.Errorf("%s: commit %s: %w", g.Ref, w.hash, err)}
	}
	return c, nil, nil
}

func (g *Git) verify(c *object.Commit, t *object.Tag) error {
	var who string
	var err error
	switch g.Verify.Mode {
	case VerifyTag:
		if t == nil {
			err = fmt.Errorf("%s points at commit %s, not at an annotated tag, so it carries no tag signature: %w", g.Ref, c.Hash.String()[:12], ErrVerify)
			break
		}
		who, err = g.Verify.verifyTag(t)
	default:
		who, err = g.Verify.verifyCommit(c)
	}
	if err != nil {
		return &PollError{Reason: ReasonVerify, Err: err}
	}
	g.log().Debug("signature verified", "origin", g.Origin(), "commit", c.Hash.String()[:12], "signer", who)
	return nil
}

// checkFastForward compares a branch's new commit with the last one handed
// out: a move to a commit that does not descend from it is a rewritten
// history (a force push).
func (g *Git) checkFastForward(c *object.Commit) error {
	last := g.repo.ref(refLast)
	if g.Ref.Branch == "" || last.IsZero() || last == c.Hash || g.repo.isAncestor(last, c.Hash) {
		return nil
	}
	if g.RequireFastForward {
		return &PollError{Reason: ReasonNonFastForward, Err: fmt.Errorf("branch %s moved from %s to %s, which does not descend from it (history rewritten); requireFastForward refuses it", g.Ref.Branch, last.String()[:12], c.Hash.String()[:12])}
	}
	g.log().Warn("branch history rewritten (force push): following it", "origin", g.Origin(), "from", last.String()[:12], "to", c.Hash.String()[:12])
	if g.Metrics != nil {
		g.Metrics.ForcePush()
	}
	return nil
}

// checkTagMoved compares the commit a followed tag names with the one the
// same tag named when it was last handed out: another commit means the tag
// was moved (deleted and pushed again, or force-pushed). A semver source
// that goes on to a higher tag has not moved a tag.
func (g *Git) checkTagMoved(w wanted, c *object.Commit) error {
	if g.Ref.Tag == "" && g.Ref.Semver == "" {
		return nil
	}
	rec := plumbing.ReferenceName(refTagPrefix + w.label)
	old := g.repo.ref(rec)
	if old.IsZero() && g.Ref.Tag != "" {
		// A repository kept from before the record: the last commit
		// handed out is the tag's.
		old = g.repo.ref(refLast)
	}
	if old.IsZero() || old == c.Hash {
		return nil
	}
	if g.RefuseMovedTags {
		return &PollError{Reason: ReasonTagMoved, Err: fmt.Errorf("tag %s moved from %s to %s; refuseMovedTags refuses it", w.label, old.String()[:12], c.Hash.String()[:12])}
	}
	g.log().Warn("tag moved: following it", "origin", g.Origin(), "tag", w.label, "from", old.String(), "to", c.Hash.String())
	if g.Metrics != nil {
		g.Metrics.TagMoved()
	}
	// Counted once: the move is now the tag's commit.
	return g.repo.setRef(rec, c.Hash)
}

// recordTag records the commit a followed tag named when it was handed out.
func (g *Git) recordTag(w wanted, h plumbing.Hash) error {
	if g.Ref.Tag == "" && g.Ref.Semver == "" {
		return nil
	}
	rec := plumbing.ReferenceName(refTagPrefix + w.label)
	if g.repo.ref(rec) == h {
		return nil
	}
	return g.repo.setRef(rec, h)
}

// classify names the reason of a poll failure.
func classify(err error) string {
	var pe *PollError
	switch {
	case errors.As(err, &pe):
		return pe.Reason
	case errors.Is(err, ErrTooLarge):
		return ReasonTooLarge
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod):
		return ReasonAuth
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return ReasonNotFound
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unable to authenticate"), strings.Contains(msg, "host key"), strings.Contains(msg, "known_hosts"):
		return ReasonAuth
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"), strings.Contains(msg, "network is unreachable"),
		strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "connection reset"), strings.Contains(msg, "EOF"):
		return ReasonNetwork
	}
	return ReasonOther
}

func isObjectNotFound(err error) bool {
	return errors.Is(err, plumbing.ErrObjectNotFound) || strings.Contains(err.Error(), "object not found")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func (g *Git) log() *slog.Logger {
	if g.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Log
}

// Tracks reports whether a push to ref may move what the source follows.
func (g *Git) Tracks(ref string) bool { return g.Ref.Tracks(ref) }
