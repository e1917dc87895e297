package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"golang.org/x/crypto/ssh"
)

// FileNamespace is the SSH signature namespace of files signed with
// `ssh-keygen -Y sign -n file`, as ssh-keygen(1) suggests for them.
const FileNamespace = "file"

// VerifyFile checks a detached signature of data, such as a SHA256SUMS
// file's: an OpenPGP signature (armored, or binary as gpg --detach-sign
// writes it) against OpenPGPKeyRing, or an SSH signature in the namespace
// ns against SSHSigners (their namespaces= option must allow ns). Key
// expiry and signer validity are checked at time at. It returns who signed
// ("openpgp:<fingerprint>" or "ssh:<principals>"); what names the file in
// errors, which wrap ErrVerify.
func (v *Verifier) VerifyFile(what string, data, sig []byte, ns string, at time.Time) (string, error) {
	trimmed := bytes.TrimSpace(sig)
	switch {
	case len(trimmed) == 0:
		return "", fmt.Errorf("%s: empty signature: %w", what, ErrVerify)
	case bytes.HasPrefix(trimmed, []byte("-----BEGIN SSH SIGNATURE-----")):
		if len(v.SSHSigners) == 0 {
			return "", fmt.Errorf("%s has an SSH signature but no SSH allowed signers are configured: %w", what, ErrVerify)
		}
		who, err := verifySSHFile(trimmed, data, ns, v.SSHSigners, at)
		if err != nil {
			return "", fmt.Errorf("%s: %v: %w", what, err, ErrVerify)
		}
		return "ssh:" + who, nil
	case bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP SIGNATURE-----")) || (sig[0]&0x80 != 0):
		if v.OpenPGPKeyRing == "" {
			return "", fmt.Errorf("%s has an OpenPGP signature but no OpenPGP keys are configured: %w", what, ErrVerify)
		}
		keys, err := readKeyRings(v.OpenPGPKeyRing)
		if err != nil {
			return "", fmt.Errorf("OpenPGP keys: %w", err)
		}
		cfg := &packet.Config{Time: func() time.Time { return at }}
		var signer *openpgp.Entity
		if trimmed[0] == '-' {
			signer, err = openpgp.CheckArmoredDetachedSignature(keys, bytes.NewReader(data), bytes.NewReader(trimmed), cfg)
		} else {
			signer, err = openpgp.CheckDetachedSignature(keys, bytes.NewReader(data), bytes.NewReader(sig), cfg)
		}
		if err != nil {
			return "", fmt.Errorf("%s: OpenPGP signature: %v: %w", what, err, ErrVerify)
		}
		return fmt.Sprintf("openpgp:%X", signer.PrimaryKey.Fingerprint), nil
	}
	first, _, _ := bytes.Cut(trimmed, []byte("\n"))
	if len(first) > 40 {
		first = first[:40]
	}
	return "", fmt.Errorf("%s has an unsupported signature (%q): %w", what, first, ErrVerify)
}

// readKeyRings reads every armored key block of s (key files are
// concatenated into one ring).
func readKeyRings(s string) (openpgp.EntityList, error) {
	var all openpgp.EntityList
	r := strings.NewReader(s)
	for {
		block, err := armor.Decode(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		keys, err := openpgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, err
		}
		all = append(all, keys...)
	}
	if len(all) == 0 {
		return nil, errors.New("no OpenPGP public key found")
	}
	return all, nil
}

// verifySSHFile checks an armored SSH signature of message in namespace ns
// against the allowed signers, at time at, and returns the signer's
// principals. It is verifySSHSignature with the namespace as a parameter.
func verifySSHFile(armored, message []byte, ns string, allowed []AllowedSigner, at time.Time) (string, error) {
	s, err := parseSSHSignature(armored)
	if err != nil {
		return "", err
	}
	if s.namespace != ns {
		return "", fmt.Errorf("SSH signature is for namespace %q, not %s", s.namespace, ns)
	}
	data, err := s.signedData(message)
	if err != nil {
		return "", err
	}
	if err := s.key.Verify(data, s.sig); err != nil {
		return "", fmt.Errorf("bad SSH signature by %s: %w", ssh.FingerprintSHA256(s.key), err)
	}
	want := s.key.Marshal()
	excluded := ""
	for _, a := range allowed {
		if !bytes.Equal(a.Key.Marshal(), want) {
			continue
		}
		if len(a.Namespaces) > 0 && !contains(a.Namespaces, ns) {
			excluded = a.Where
			continue
		}
		if (!a.ValidAfter.IsZero() && at.Before(a.ValidAfter)) || (!a.ValidBefore.IsZero() && !at.Before(a.ValidBefore)) {
			return "", fmt.Errorf("SSH signature by %s: key of %s (%s) is not valid at %s", ssh.FingerprintSHA256(s.key), strings.Join(a.Principals, ","), a.Where, at.Format(time.RFC3339))
		}
		return strings.Join(a.Principals, ","), nil
	}
	if excluded != "" {
		return "", fmt.Errorf("SSH signature by %s: the key is allowed only for other namespaces than %s (%s)", ssh.FingerprintSHA256(s.key), ns, excluded)
	}
	return "", fmt.Errorf("SSH signature by %s, a key not in the allowed signers", ssh.FingerprintSHA256(s.key))
}
