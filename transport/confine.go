// Package transport holds what every transport shares: the rule that a
// write on a server stays inside its root, and the error that refuses one.
// The transports themselves are transport/local and transport/ssh; the
// interface they satisfy is defined by their user (executor.Transport).
package transport

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
)

// Writes stay inside their root (docs/security.md).
//
// Every write gitfleet makes on a server belongs to a root: an App's
// deployTo for its releases, current, the .gitfleet markers and manifests,
// pruning and the healing of a release's files; the environmentFiles root
// holding a managed file for the environment lane. The root must be a real
// directory: when it is a symbolic link the write is refused. The
// directories above it are the system's own and are taken as they are
// (/var/run -> /run is fine). Below it, a symbolic link is followed only
// while it resolves inside the root; a write whose path would go through a
// link that leads out (or to nothing) is refused before anything is written.
//
// Locally this is os.Root (openat with every component checked); over SSH
// the same script that writes walks the path first, one `cd -P` at a time,
// checking where each step physically landed.

// ErrOutsideRoot is what a refused write matches with errors.Is.
var ErrOutsideRoot = errors.New("the write would leave its root")

// RootError is a write refused because its path would leave its root.
type RootError struct {
	Path   string // what was to be written, as the server names it
	Reason string
}

func (e *RootError) Error() string { return fmt.Sprintf("%s: refused: %s", e.Path, e.Reason) }

// Is makes a *RootError match ErrOutsideRoot.
func (e *RootError) Is(target error) bool { return target == ErrOutsideRoot }

// RootIsLink refuses a write of p whose root is a symbolic link.
func RootIsLink(p, root string) *RootError {
	return &RootError{Path: p, Reason: fmt.Sprintf("its root %s is a symbolic link; gitfleet writes only into a real directory", root)}
}

// LinkLeadsOut refuses a write of p through link, which leads out of root.
func LinkLeadsOut(p, link, root string) *RootError {
	return &RootError{Path: p, Reason: fmt.Sprintf("%s is a symbolic link that does not resolve inside %s", link, root)}
}

// RelTo is p relative to root; p must be below root (a *RootError
// otherwise).
func RelTo(root, p string) (string, error) {
	if root == "/" && strings.HasPrefix(p, "/") && p != "/" {
		return p[1:], nil
	}
	rel, ok := strings.CutPrefix(p, root+"/")
	if !ok || rel == "" || path.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", &RootError{Path: p, Reason: "not below " + root}
	}
	return rel, nil
}

// RandomSuffix names a temporary entry uniquely.
func RandomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
