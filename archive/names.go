package archive

import (
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gitfleet/gitfleet/tree"
)

// Bounds of names, as Linux has them.
const (
	maxPathBytes = 4096
	maxNameBytes = 255
	// maxQuoted bounds how much of a name an error message quotes.
	maxQuoted = 200
)

// EntryError refuses an archive because of one of its entries.
type EntryError struct {
	Entry  string // the name as the archive holds it
	Reason string
	Err    error // ErrUnsafe or ErrLimit
}

func (e *EntryError) Error() string {
	return tree.Escape(clip(e.Entry)) + ": " + e.Reason
}

func (e *EntryError) Unwrap() error { return e.Err }

func unsafeEntry(name, format string, args ...any) error {
	return &EntryError{Entry: name, Reason: fmt.Sprintf(format, args...), Err: ErrUnsafe}
}

func overLimit(name, format string, args ...any) error {
	return &EntryError{Entry: name, Reason: fmt.Sprintf(format, args...), Err: ErrLimit}
}

// cleanName turns an archive's entry name into a tree path: leading "./"
// and repeated or trailing slashes go; an absolute path, a ".." component,
// a control character or an over-long name is refused. The archive's root
// itself ("." or "./") gives "".
func cleanName(raw string) (string, error) {
	switch {
	case raw == "":
		return "", unsafeEntry(raw, "entry without a name")
	case len(raw) > maxPathBytes:
		return "", overLimit(raw, "name longer than %d bytes", maxPathBytes)
	case strings.HasPrefix(raw, "/"):
		return "", unsafeEntry(raw, "absolute path")
	}
	parts := strings.Split(raw, "/")
	out := parts[:0]
	for _, p := range parts {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", unsafeEntry(raw, "path with `..`, which could lead out of the root")
		}
		if len(p) > maxNameBytes {
			return "", overLimit(raw, "a name in the path is longer than %d bytes", maxNameBytes)
		}
		if r, ok := controlIn(p); ok {
			return "", unsafeEntry(raw, "name holds the control character %U, which gitfleet does not deploy", r)
		}
		out = append(out, p)
	}
	return strings.Join(out, "/"), nil
}

// checkTarget refuses a symbolic link target that is empty, absolute, holds
// a control character, or leads out of the root when read from the link's
// directory without following other links. Links through other links are
// resolved when the whole archive is known.
func checkTarget(name, p, target string) error {
	switch {
	case target == "":
		return unsafeEntry(name, "symbolic link with an empty target")
	case len(target) > maxPathBytes:
		return overLimit(name, "symbolic link target longer than %d bytes", maxPathBytes)
	case path.IsAbs(target):
		return unsafeEntry(name, "symbolic link to the absolute path %s leads out of the root", tree.Escape(clip(target)))
	}
	if r, ok := controlIn(target); ok {
		return unsafeEntry(name, "symbolic link target %s holds the control character %U, which gitfleet does not deploy", tree.Escape(clip(target)), r)
	}
	if j := path.Join(path.Dir(p), target); j == ".." || strings.HasPrefix(j, "../") {
		return unsafeEntry(name, "symbolic link to %s leads out of the root", tree.Escape(clip(target)))
	}
	return nil
}

// controlIn returns the first control character of s, as the tree package
// finds them: bytes that are not UTF-8 are not characters and pass.
func controlIn(s string) (rune, bool) {
	for _, r := range s {
		if r != utf8.RuneError && unicode.IsControl(r) {
			return r, true
		}
	}
	return 0, false
}

func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
