package blobcache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Digest names content: "sha256:" and 64 lower-case hex digits.
type Digest string

// ErrBadDigest is wrapped by ParseDigest's errors.
var ErrBadDigest = errors.New("bad digest")

const digestPrefix = "sha256:"

// ParseDigest checks s ("sha256:<64 hex>").
func ParseDigest(s string) (Digest, error) {
	h, ok := strings.CutPrefix(s, digestPrefix)
	if !ok || len(h) != 64 || !isLowerHex(h) {
		return "", fmt.Errorf("%q: want sha256: and 64 lower-case hex digits: %w", clip(s), ErrBadDigest)
	}
	return Digest(s), nil
}

// FromSum makes the digest of a SHA-256 sum.
func FromSum(sum [32]byte) Digest { return Digest(digestPrefix + hex.EncodeToString(sum[:])) }

// FromBytes is the digest of b.
func FromBytes(b []byte) Digest { return FromSum(sha256.Sum256(b)) }

// Hex is the 64 hex digits of d.
func (d Digest) Hex() string { return strings.TrimPrefix(string(d), digestPrefix) }

// Short is the first 12 hex digits, for messages.
func (d Digest) Short() string {
	h := d.Hex()
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (d Digest) String() string { return string(d) }

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// clip bounds what an error message quotes of an input.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
