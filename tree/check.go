package tree

import (
	"fmt"
	"path"
	"strings"
)

// maxLinkHops bounds how many symlinks one resolution follows in all, as the
// kernel does (ELOOP).
const maxLinkHops = 40

// Check verifies that the tree is safe to place on a server as a release: no
// symbolic link is absolute or resolves outside the tree (following links
// inside it, the way the kernel would), and no file is setuid or setgid.
// It returns every problem found, in path order.
func (t *Tree) Check() []error {
	var errs []error
	for _, e := range t.Entries() {
		switch e.Kind {
		case Symlink:
			if err := t.checkLink(e); err != nil {
				errs = append(errs, err)
			}
		case File:
			if e.Perm&0o6000 != 0 {
				errs = append(errs, fmt.Errorf("%s: setuid or setgid file (mode %04o) is not allowed", e.Path, e.Perm))
			}
		}
	}
	return errs
}

func (t *Tree) checkLink(e *Entry) error {
	if path.IsAbs(e.Target) {
		return fmt.Errorf("%s: symlink to absolute path %s is not allowed", e.Path, e.Target)
	}
	hops := 1 // the link itself, as the kernel counts
	if _, err := t.resolve(path.Dir(e.Path), e.Target, &hops); err != nil {
		return fmt.Errorf("%s: symlink to %s: %w", e.Path, e.Target, err)
	}
	return nil
}

// errEscapes is the reason for a link that leaves the tree.
var errEscapes = fmt.Errorf("points outside the artifact")

// resolve walks target component by component from dir, replacing every
// symlink met inside the tree by its own target. It fails as soon as the walk
// goes above the root. A component that does not exist is taken for a
// directory (the app may create it in its release later) and the walk goes
// on, so links met after it are still followed; a dangling link inside the
// tree is harmless. hops counts the links followed in the whole resolution,
// not its depth, so links that each double the work of the one before cannot
// make it take exponential time.
func (t *Tree) resolve(dir, target string, hops *int) (string, error) {
	cur := dir
	if cur == "." {
		cur = ""
	}
	for _, part := range strings.Split(target, "/") {
		switch part {
		case "", ".":
			continue
		case "..":
			if cur == "" {
				return "", errEscapes
			}
			cur = parentOf(cur)
			continue
		}
		next := part
		if cur != "" {
			next = cur + "/" + part
		}
		e := t.Get(next)
		if e == nil || e.Kind != Symlink {
			cur = next
			continue
		}
		*hops++
		if *hops > maxLinkHops {
			return "", fmt.Errorf("too many levels of symbolic links")
		}
		if path.IsAbs(e.Target) {
			return "", fmt.Errorf("goes through %s, a symlink to an absolute path", e.Path)
		}
		resolved, err := t.resolve(cur, e.Target, hops)
		if err != nil {
			return "", err
		}
		cur = resolved
		if cur == "." {
			cur = ""
		}
	}
	if cur == "" {
		return ".", nil
	}
	return cur, nil
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}
