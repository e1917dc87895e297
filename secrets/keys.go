package secrets

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// maxKeyFileBytes bounds an identity file: age-keygen writes about 200
// bytes, an SSH RSA key a few KiB.
const maxKeyFileBytes = 1 << 20

// Keys are the age identities that decrypt secrets, read from files the
// daemon's configuration names (secrets.age.keyFile or keyFiles), never
// from the repository. They show as "(N age keys)" to fmt; Recipients
// lists their public keys. Keys are safe for concurrent use.
type Keys struct {
	ids  []age.Identity
	pubs []string
}

// LoadKeys reads identity files: age identity files as age-keygen writes
// them (X25519 "AGE-SECRET-KEY-1..." and post-quantum
// "AGE-SECRET-KEY-PQ-1..." lines; '#' lines are comments), or unencrypted
// OpenSSH ed25519 or RSA private keys. Every file must hold at least one
// key. Errors name the file, never a key.
func LoadKeys(paths ...string) (*Keys, error) {
	if len(paths) == 0 {
		return nil, errors.New("age keys: no key file given")
	}
	k := &Keys{}
	for _, p := range paths {
		data, err := readBounded(p, maxKeyFileBytes)
		if err != nil {
			return nil, fmt.Errorf("age key file %s: %w", p, err)
		}
		if err := k.add(data); err != nil {
			return nil, fmt.Errorf("age key file %s: %w", p, err)
		}
	}
	return k, nil
}

// ParseKeys reads identities from the content of one identity file (see
// LoadKeys).
func ParseKeys(data []byte) (*Keys, error) {
	k := &Keys{}
	if err := k.add(data); err != nil {
		return nil, err
	}
	return k, nil
}

// NewKeys makes Keys of identities already parsed (X25519, hybrid or SSH
// identities of filippo.io/age).
func NewKeys(ids ...age.Identity) *Keys {
	k := &Keys{}
	for _, id := range ids {
		k.ids = append(k.ids, id)
		k.pubs = append(k.pubs, publicOf(id))
	}
	return k
}

func (k *Keys) add(data []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		return k.addSSH(data)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		// age's messages about a malformed key quote a character of it:
		// say only which line.
		if m := keyLineRE.FindStringSubmatch(err.Error()); m != nil {
			return fmt.Errorf("line %s is not an age identity (AGE-SECRET-KEY-1... or AGE-SECRET-KEY-PQ-1...)", m[1])
		}
		return err
	}
	for _, id := range ids {
		k.ids = append(k.ids, id)
		k.pubs = append(k.pubs, publicOf(id))
	}
	return nil
}

func (k *Keys) addSSH(data []byte) error {
	raw, err := ssh.ParseRawPrivateKey(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return errors.New("a passphrase-protected SSH key cannot be used unattended: give an unencrypted key file with mode 0600, or an age key")
	case err != nil:
		return errors.New("not an age identity file nor an OpenSSH private key")
	}
	id, err := agessh.ParseIdentity(data)
	if err != nil {
		return fmt.Errorf("SSH key: %w", err)
	}
	pub := ""
	if s, ok := raw.(crypto.Signer); ok {
		if p, err := ssh.NewPublicKey(s.Public()); err == nil {
			pub = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(p)))
		}
	}
	k.ids = append(k.ids, id)
	k.pubs = append(k.pubs, pub)
	return nil
}

var keyLineRE = regexp.MustCompile(`^error at line (\d+)`)

// publicOf returns the public key of an identity, or "" when it has none
// that can be shown.
func publicOf(id age.Identity) string {
	switch id := id.(type) {
	case *age.X25519Identity:
		return id.Recipient().String()
	case *age.HybridIdentity:
		return id.Recipient().String()
	}
	return ""
}

// Recipients returns the public keys of the identities, in the order
// they were read ("" for an identity whose public key is unknown).
func (k *Keys) Recipients() []string { return append([]string(nil), k.pubs...) }

// Len is the number of identities.
func (k *Keys) Len() int { return len(k.ids) }

// String returns a description without key material.
func (k *Keys) String() string { return fmt.Sprintf("(%d age keys)", len(k.ids)) }

// Format writes the description of String whatever the verb.
func (k *Keys) Format(f fmt.State, _ rune) { redactedFormat(f, k.String()) }

// tried lists the shown public keys, for ErrWrongKey.
func (k *Keys) tried() []string {
	var out []string
	for _, p := range k.pubs {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// readBounded reads a file of at most max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return data, nil
}
