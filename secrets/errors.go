package secrets

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The kinds of Error, for errors.Is. Each says what a person must do.
var (
	// ErrNotEncrypted: the file holds neither SOPS metadata nor encrypted
	// values, nor an age header: a plaintext file where a secret was
	// expected. Encrypt it.
	ErrNotEncrypted = errors.New("not encrypted")
	// ErrMalformed: the file is not well-formed SOPS or age: truncated,
	// damaged, or not such a file at all. Restore it from the person who
	// encrypted it.
	ErrMalformed = errors.New("malformed or truncated")
	// ErrWrongKey: none of the age keys given decrypts the file's data
	// key. Add a key of one of its recipients, or re-encrypt the file for
	// one of the keys.
	ErrWrongKey = errors.New("no key decrypts it")
	// ErrIntegrity: the file's MAC or an encrypted value does not
	// authenticate: it was changed by someone without the key (or a
	// value was moved to another key). Re-encrypt it from a good copy.
	ErrIntegrity = errors.New("integrity check failed")
	// ErrUnsupported: well-formed, but uses a feature gitfleet does not
	// read (a key service other than age, comment-based encryption rules,
	// several YAML documents).
	ErrUnsupported = errors.New("unsupported")
)

// Error is why an encrypted file cannot be read or decrypted. Its message
// names the file and what was wrong, and for SOPS files the recipients
// the file was encrypted for; it never holds the file's content. The
// caller adds where the file is referenced (file:line of the desired
// state).
type Error struct {
	// File is the file's path as given.
	File string
	// Kind is one of ErrNotEncrypted, ErrMalformed, ErrWrongKey,
	// ErrIntegrity and ErrUnsupported.
	Kind error
	// Reason says what was wrong, in this package's words.
	Reason string
	// Recipients are the public keys the file says it was encrypted for
	// (SOPS files; an age file does not record them).
	Recipients []string
	// Tried are the public keys of the identities that were tried
	// (ErrWrongKey).
	Tried []string
}

// Bounds of what an Error quotes.
const (
	maxListed  = 8  // recipients and keys named in a message
	maxQuoted  = 80 // characters of one recipient or key name
	maxReasons = 300
)

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteString(": ")
	b.WriteString(clip(e.Reason, maxReasons))
	if len(e.Recipients) > 0 {
		b.WriteString("; it is encrypted for ")
		b.WriteString(listed(e.Recipients))
	}
	if len(e.Tried) > 0 {
		b.WriteString("; keys tried: ")
		b.WriteString(listed(e.Tried))
	}
	return b.String()
}

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }

func fail(file string, kind error, format string, args ...any) *Error {
	return &Error{File: file, Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// listed joins up to maxListed public keys, each checked and clipped.
func listed(keys []string) string {
	var parts []string
	for i, k := range keys {
		if i == maxListed {
			parts = append(parts, fmt.Sprintf("and %d more", len(keys)-maxListed))
			break
		}
		parts = append(parts, PublicKeyText(k))
	}
	return strings.Join(parts, ", ")
}

// publicKeyRE matches an age or SSH public key (post-quantum age keys
// are about 2000 characters: the length is bounded by maxKeyText).
var publicKeyRE = regexp.MustCompile(`^(age1[0-9a-z]{20,}|ssh-(ed25519|rsa) [A-Za-z0-9+/=]{16,}( [!-~]*)?)$`)

const maxKeyText = 5000

// PublicKeyText returns a recipient as it may be shown: an age or SSH
// public key, clipped to a readable length; anything else (a recipient
// field of a file may hold anything) as "(invalid recipient)".
func PublicKeyText(k string) string {
	if len(k) > maxKeyText || !publicKeyRE.MatchString(k) {
		return "(invalid recipient)"
	}
	if strings.HasPrefix(k, "ssh-") {
		// "ssh-ed25519 AAAA...": type and the key's tail identify it.
		f := strings.Fields(k)
		if len(f[1]) > 16 {
			return f[0] + " …" + f[1][len(f[1])-16:]
		}
		return f[0] + " " + f[1]
	}
	return clip(k, maxQuoted)
}

// nameText returns a key name of a file (in clear in SOPS files, so not a
// secret, but chosen by whoever wrote the file) fit for a message.
func nameText(s string) string {
	q := fmt.Sprintf("%q", s)
	return clip(q, maxQuoted)
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
