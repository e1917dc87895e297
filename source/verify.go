package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// VerifyMode says what must carry a good signature.
type VerifyMode string

// The modes.
const (
	VerifyHead VerifyMode = "head" // the commit the ref resolves to
	VerifyTag  VerifyMode = "tag"  // the annotated tag (tag and semver refs)
)

// Verifier checks signatures of commits and tags, by OpenPGP keys or SSH
// allowed signers. A revision that fails is never deployed.
type Verifier struct {
	Mode VerifyMode
	// OpenPGPKeyRing is the concatenation of armored public key rings.
	OpenPGPKeyRing string
	// SSHSigners are the allowed SSH signers.
	SSHSigners []AllowedSigner
}

// ErrVerify is wrapped by every verification failure.
var ErrVerify = errors.New("signature verification failed")

// signed is a commit or tag object with its signature split off.
type signed struct {
	what      string // "commit 1a2b3c4d5e6f" or "tag v1.2.0"
	signature string
	payload   func() ([]byte, error)
	pgp       func(keyring string) error
	// when is the commit or tag time: SSH signer validity is checked at
	// it, as git does.
	when time.Time
}

// verifyCommit checks the commit's signature.
func (v *Verifier) verifyCommit(c *object.Commit) (string, error) {
	return v.check(signed{
		what:      "commit " + c.Hash.String()[:12],
		signature: c.PGPSignature,
		payload: func() ([]byte, error) {
			o := &plumbing.MemoryObject{}
			if err := c.EncodeWithoutSignature(o); err != nil {
				return nil, err
			}
			return readObject(o)
		},
		pgp:  func(kr string) error { _, err := c.Verify(kr); return err },
		when: c.Committer.When,
	})
}

// verifyTag checks the annotated tag's signature.
func (v *Verifier) verifyTag(t *object.Tag) (string, error) {
	return v.check(signed{
		what:      "tag " + t.Name,
		signature: t.PGPSignature,
		payload: func() ([]byte, error) {
			o := &plumbing.MemoryObject{}
			if err := t.EncodeWithoutSignature(o); err != nil {
				return nil, err
			}
			return readObject(o)
		},
		pgp:  func(kr string) error { _, err := t.Verify(kr); return err },
		when: t.Tagger.When,
	})
}

func readObject(o *plumbing.MemoryObject) ([]byte, error) {
	r, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// check verifies s and returns who signed it.
func (v *Verifier) check(s signed) (string, error) {
	sig := strings.TrimSpace(s.signature)
	switch {
	case sig == "":
		return "", fmt.Errorf("%s is not signed: %w", s.what, ErrVerify)
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		if v.OpenPGPKeyRing == "" {
			return "", fmt.Errorf("%s has an OpenPGP signature but no OpenPGP keys are configured: %w", s.what, ErrVerify)
		}
		if err := s.pgp(v.OpenPGPKeyRing); err != nil {
			return "", fmt.Errorf("%s: OpenPGP signature: %v: %w", s.what, err, ErrVerify)
		}
		return "openpgp", nil
	case strings.HasPrefix(sig, "-----BEGIN SSH SIGNATURE-----"):
		if len(v.SSHSigners) == 0 {
			return "", fmt.Errorf("%s has an SSH signature but no SSH allowed signers are configured: %w", s.what, ErrVerify)
		}
		payload, err := s.payload()
		if err != nil {
			return "", err
		}
		who, err := verifySSHSignature([]byte(sig), payload, v.SSHSigners, s.when)
		if err != nil {
			return "", fmt.Errorf("%s: %v: %w", s.what, err, ErrVerify)
		}
		return "ssh:" + who, nil
	}
	first, _, _ := bytes.Cut([]byte(sig), []byte("\n"))
	return "", fmt.Errorf("%s has an unsupported signature (%s): %w", s.what, first, ErrVerify)
}
