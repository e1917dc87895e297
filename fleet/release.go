package fleet

import (
	"strings"

	"github.com/gitfleet/gitfleet/tree"
)

// DigestLen is how many hex digits of the content digest name a release.
const DigestLen = 12

// Release is one version of an app's files, content-addressed.
type Release struct {
	ID      string // <version>-<digest>, the directory name under releases/
	Version string
	Digest  string // full hex sha256 of the tree
	// Commit is the Git commit the version's tag pointed to when the
	// release was cut from a Git artifact; "" for directory artifacts.
	Commit string
	Tree   *tree.Tree
}

// NewRelease names the tree's content as a release of version.
func NewRelease(version string, t *tree.Tree) Release {
	d := t.Digest()
	return Release{ID: ReleaseID(version, d), Version: version, Digest: d, Tree: t}
}

// ReleaseOf names a release a server already has, by its ID: its files are
// not known here.
func ReleaseOf(id string) Release {
	return Release{ID: id, Version: VersionOf(id)}
}

// ReleaseID is the directory name of a release.
func ReleaseID(version, digest string) string {
	if len(digest) > DigestLen {
		digest = digest[:DigestLen]
	}
	return version + "-" + digest
}

// VersionOf returns the version part of a release ID.
func VersionOf(id string) string {
	if i := strings.LastIndexByte(id, '-'); i > 0 && len(id)-i-1 == DigestLen {
		return id[:i]
	}
	return id
}

// ParseCurrent turns the target of a deployTo's current link into a
// release ID, or keeps the raw target when it is not releases/<id>.
func ParseCurrent(target string) (id, raw string) {
	if rest, ok := strings.CutPrefix(target, "releases/"); ok && rest != "" && !strings.ContainsRune(rest, '/') && !strings.HasPrefix(rest, ".") {
		return rest, ""
	}
	return "", target
}

// TmpPrefix starts the names of entries being written on a server; they
// are never taken for releases and are removed when found stale.
const TmpPrefix = ".tmp-"

// ShortRevision shortens a revision to 12 characters for display.
func ShortRevision(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}
