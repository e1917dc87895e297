package tree

import (
	"fmt"
	"path"
	"strings"
)

// maxLinkHops bounds symlink resolution, as the kernel does (ELOOP).
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
	if _, err := t.resolve(path.Dir(e.Path), e.Target, 0); err != nil {
		return fmt.Errorf("%s: symlink to %s: %w", e.Path, e.Target, err)
	}
	return nil
}

// errEscapes is the reason for a link that leaves the tree.
var errEscapes = fmt.Errorf("points outside the artifact")

// resolve walks target component by component from dir, replacing every
// symlink met inside the tree by its own target. It fails as soon as the walk
// goes above the root. Components that do not exist end the walk: a dangling
// link inside the tree is harmless.
func (t *Tree) resolve(dir, target string, hops int) (string, error) {
	if hops > maxLinkHops {
		return "", fmt.Errorf("too many levels of symbolic links")
	}
	cur := dir
	if cur == "." {
		cur = ""
	}
	parts := strings.Split(target, "/")
	for i, part := range parts {
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
		if e == nil {
			// Does not exist: the rest is resolved lexically.
			rest := path.Join(append([]string{next}, parts[i+1:]...)...)
			if rest == ".." || strings.HasPrefix(rest, "../") {
				return "", errEscapes
			}
			return rest, nil
		}
		if e.Kind == Symlink {
			if path.IsAbs(e.Target) {
				return "", fmt.Errorf("goes through %s, a symlink to an absolute path", e.Path)
			}
			resolved, err := t.resolve(cur, e.Target, hops+1)
			if err != nil {
				return "", err
			}
			cur = resolved
			if cur == "." {
				cur = ""
			}
			continue
		}
		cur = next
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
