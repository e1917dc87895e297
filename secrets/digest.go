package secrets

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// MinDigestKeyBytes is the least key a Digester takes: 32 bytes, as
// `openssl rand -hex 32` or `head -c 32 /dev/urandom | base64` give
// (64 and 44 characters).
const MinDigestKeyBytes = 32

// maxDigestKeyBytes bounds a digest key file.
const maxDigestKeyBytes = 4096

// Digester computes keyed digests (HMAC-SHA256) of secret values and of
// rendered files that hold them. With the same key (secrets.digestKeyFile,
// shared by replicas and kept across restarts) the same plaintext always
// gives the same digest, however the file was encrypted (new data key,
// new recipients, rotated age keys); without the key a digest tells
// nothing about the plaintext, however short or guessable. A Digester
// shows as "(digest key)" to fmt, and is safe for concurrent use.
type Digester struct{ key []byte }

// Digest is a keyed digest: "hmac-sha256:" and 64 hex digits. It may be
// stored and shown; it is not a secret.
type Digest string

// LoadDigestKey reads the digest key from a file: its content without
// surrounding white space, at least MinDigestKeyBytes long. Errors name
// the file, never the key.
func LoadDigestKey(path string) (*Digester, error) {
	data, err := readBounded(path, maxDigestKeyBytes)
	if err != nil {
		return nil, fmt.Errorf("digest key file %s: %w", path, err)
	}
	d, err := NewDigester(bytes.TrimSpace(data))
	if err != nil {
		return nil, fmt.Errorf("digest key file %s: %w", path, err)
	}
	return d, nil
}

// NewDigester makes a Digester of a key of at least MinDigestKeyBytes.
func NewDigester(key []byte) (*Digester, error) {
	if len(key) < MinDigestKeyBytes {
		return nil, fmt.Errorf("the key has %d bytes; use at least %d (openssl rand -hex 32)", len(key), MinDigestKeyBytes)
	}
	if bytes.ContainsAny(key, "\n\r") {
		return nil, errors.New("the key holds a line break; want one line")
	}
	return &Digester{key: append([]byte(nil), key...)}, nil
}

// The domains keep a value's digest apart from a file's of the same
// bytes.
const (
	valueDomain = "gitfleet secret value v1\x00"
	fileDomain  = "gitfleet secret file v1\x00"
)

func (d *Digester) sum(domain, name string, data []byte) Digest {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(domain))
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write(data)
	return Digest("hmac-sha256:" + hex.EncodeToString(m.Sum(nil)))
}

// Value is the digest of a value under its name ("db.password"): the
// same value under another name digests differently, so digests do not
// tell which secrets are equal.
func (d *Digester) Value(name string, v Value) Digest {
	var b []byte
	if v.p != nil {
		b = v.p.b
	}
	return d.sum(valueDomain, name, b)
}

// File is the digest of a rendered file at its path on the server, to be
// stored, compared and shown in place of a plain SHA-256 for every file
// that holds a secret.
func (d *Digester) File(path string, data []byte) Digest {
	return d.sum(fileDomain, path, data)
}

// Values returns the digest of every value of a Set, by reference.
func (d *Digester) Values(s *Set) map[string]Digest {
	out := make(map[string]Digest, len(s.refs))
	for _, r := range s.refs {
		out[r] = d.Value(r, s.values[r])
	}
	return out
}

// String returns "(digest key)".
func (d *Digester) String() string { return "(digest key)" }

// Format writes "(digest key)" whatever the verb.
func (d *Digester) Format(f fmt.State, _ rune) { redactedFormat(f, d.String()) }

// What plans and logs show for a secret.
const (
	Changed   = "(secret, changed)"
	Unchanged = "(secret, unchanged)"
)

// Describe says whether a secret changed, from its digests before and
// after: "(secret, unchanged)" when they are equal and not empty,
// "(secret, changed)" otherwise (a new secret is a change).
func Describe(before, after Digest) string {
	if before != "" && before == after {
		return Unchanged
	}
	return Changed
}

// Valid reports whether d has the form of a Digest, for digests read
// back from a server's state or history.
func (d Digest) Valid() bool {
	h, ok := strings.CutPrefix(string(d), "hmac-sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}
