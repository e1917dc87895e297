package tree

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxLinkHops bounds how many symlinks one resolution follows in all, as the
// kernel does (ELOOP).
const maxLinkHops = 40

// Check verifies that the tree is safe to place on a server as a release: no
// name holds a control character, no symbolic link is absolute or resolves
// outside the tree (following links inside it, the way the kernel would),
// and no file is setuid or setgid. It returns every problem found, in path
// order.
func (t *Tree) Check() []error {
	var errs []error
	for _, e := range t.Entries() {
		if err := checkName(e); err != nil {
			errs = append(errs, err)
		}
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

// checkName refuses a name (or a link target) holding a control character:
// U+0000 to U+001F, U+007F or U+0080 to U+009F. Such a name is legal on
// Linux, but a newline in it splits it in two for every line-oriented tool
// on the servers (and for gitfleet's own content check, which reported
// drift on it at every check and healed it forever), and escape sequences
// in it rewrite the terminals of whoever reads a log, a plan or a listing.
// No artifact needs one, so none is deployed: the error names the entry,
// escaped, with the character. Only the entry whose own name holds it is
// reported (a directory, not everything in it).
func checkName(e *Entry) error {
	if r, ok := controlIn(path.Base(e.Path)); ok {
		return fmt.Errorf("%s: name holds the control character %U, which gitfleet does not deploy", Escape(e.Path), r)
	}
	if e.Kind == Symlink {
		if r, ok := controlIn(e.Target); ok {
			return fmt.Errorf("%s: symlink target %s holds the control character %U, which gitfleet does not deploy", e.Path, Escape(e.Target), r)
		}
	}
	return nil
}

// controlIn returns the first control character of s. Bytes that are not
// UTF-8 are not characters and pass.
func controlIn(s string) (rune, bool) {
	for _, r := range s {
		if r != utf8.RuneError && unicode.IsControl(r) {
			return r, true
		}
	}
	return 0, false
}

// Escape writes s as a Go string literal would hold it, without the
// quotes, so that a name with control characters prints on one line and
// changes nothing on a terminal.
func Escape(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
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
