package source

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSH signatures (the SSHSIG format of OpenSSH's PROTOCOL.sshsig), as Git
// writes them with gpg.format=ssh, verified against an allowed-signers file
// (ssh-keygen(1), ALLOWED SIGNERS).

const sshsigMagic = "SSHSIG"

// AllowedSigner is one line of an allowed-signers file.
type AllowedSigner struct {
	Principals  []string
	Key         ssh.PublicKey
	Namespaces  []string  // empty: any
	ValidAfter  time.Time // zero: no bound
	ValidBefore time.Time
	Where       string // file:line, for messages
}

// ParseAllowedSigners reads an allowed-signers file. Certificate authorities
// (cert-authority) are refused rather than half-supported.
func ParseAllowedSigners(file string) ([]AllowedSigner, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []AllowedSigner
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		where := fmt.Sprintf("%s:%d", file, n)
		fields := strings.Fields(line)
		if len(fields) < 3 {
			return nil, fmt.Errorf("%s: want principals [options] keytype key", where)
		}
		s := AllowedSigner{Principals: strings.Split(fields[0], ","), Where: where}
		rest := fields[1:]
		// Options come before the key type when the second field is not one.
		if !isKeyType(rest[0]) {
			for _, opt := range splitOptions(rest[0]) {
				name, val, _ := strings.Cut(opt, "=")
				val = strings.Trim(val, `"`)
				switch strings.ToLower(name) {
				case "namespaces":
					s.Namespaces = strings.Split(val, ",")
				case "valid-after":
					if s.ValidAfter, err = parseSSHTime(val); err != nil {
						return nil, fmt.Errorf("%s: valid-after: %w", where, err)
					}
				case "valid-before":
					if s.ValidBefore, err = parseSSHTime(val); err != nil {
						return nil, fmt.Errorf("%s: valid-before: %w", where, err)
					}
				case "cert-authority":
					return nil, fmt.Errorf("%s: cert-authority is not supported", where)
				default:
					return nil, fmt.Errorf("%s: unknown option %q", where, name)
				}
			}
			rest = rest[1:]
		}
		if len(rest) < 2 {
			return nil, fmt.Errorf("%s: want keytype key after the options", where)
		}
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(rest[0] + " " + rest[1]))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		s.Key = key
		out = append(out, s)
	}
	return out, sc.Err()
}

// splitOptions splits comma-separated options, keeping commas inside
// double quotes (namespaces="git,file").
func splitOptions(s string) []string {
	var out []string
	quoted, start := false, 0
	for i, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func isKeyType(s string) bool {
	return strings.HasPrefix(s, "ssh-") || strings.HasPrefix(s, "ecdsa-") || strings.HasPrefix(s, "sk-")
}

// parseSSHTime reads YYYYMMDD[HHMM[SS]][Z] as ssh-keygen does.
func parseSSHTime(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") {
		loc, v = time.UTC, strings.TrimSuffix(v, "Z")
	}
	for _, layout := range []string{"20060102150405", "200601021504", "20060102"} {
		if len(v) == len(layout) {
			return time.ParseInLocation(layout, v, loc)
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", v)
}

// sshSignature is a parsed SSHSIG blob.
type sshSignature struct {
	key       ssh.PublicKey
	namespace string
	hashAlg   string
	sig       *ssh.Signature
}

func parseSSHSignature(armored []byte) (*sshSignature, error) {
	block, _ := pem.Decode(bytes.TrimSpace(armored))
	if block == nil || block.Type != "SSH SIGNATURE" {
		return nil, errors.New("not an SSH signature")
	}
	b := block.Bytes
	if !bytes.HasPrefix(b, []byte(sshsigMagic)) {
		return nil, errors.New("SSH signature: bad magic")
	}
	var blob struct {
		Version   uint32
		PublicKey []byte
		Namespace string
		Reserved  string
		HashAlg   string
		Signature []byte
	}
	if err := ssh.Unmarshal(b[len(sshsigMagic):], &blob); err != nil {
		return nil, fmt.Errorf("SSH signature: %w", err)
	}
	if blob.Version != 1 {
		return nil, fmt.Errorf("SSH signature: unsupported version %d", blob.Version)
	}
	key, err := ssh.ParsePublicKey(blob.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("SSH signature: %w", err)
	}
	sig := new(ssh.Signature)
	if err := ssh.Unmarshal(blob.Signature, sig); err != nil {
		return nil, fmt.Errorf("SSH signature: %w", err)
	}
	return &sshSignature{key: key, namespace: blob.Namespace, hashAlg: blob.HashAlg, sig: sig}, nil
}

// signedData is what an SSHSIG signature covers.
func (s *sshSignature) signedData(message []byte) ([]byte, error) {
	var h []byte
	switch s.hashAlg {
	case "sha256":
		sum := sha256.Sum256(message)
		h = sum[:]
	case "sha512":
		sum := sha512.Sum512(message)
		h = sum[:]
	default:
		return nil, fmt.Errorf("SSH signature: unsupported hash %q", s.hashAlg)
	}
	return append([]byte(sshsigMagic), ssh.Marshal(struct {
		Namespace string
		Reserved  string
		HashAlg   string
		Hash      []byte
	}{s.namespace, "", s.hashAlg, h})...), nil
}

// verifySSHSignature checks an armored SSH signature of message in the
// namespace "git" against the allowed signers, at time at. It returns the
// principals of the signer.
func verifySSHSignature(armored, message []byte, allowed []AllowedSigner, at time.Time) (string, error) {
	s, err := parseSSHSignature(armored)
	if err != nil {
		return "", err
	}
	if s.namespace != "git" {
		return "", fmt.Errorf("SSH signature is for namespace %q, not git", s.namespace)
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
		if len(a.Namespaces) > 0 && !contains(a.Namespaces, "git") {
			excluded = a.Where
			continue
		}
		if (!a.ValidAfter.IsZero() && at.Before(a.ValidAfter)) || (!a.ValidBefore.IsZero() && !at.Before(a.ValidBefore)) {
			return "", fmt.Errorf("SSH signature by %s: key of %s (%s) is not valid at %s", ssh.FingerprintSHA256(s.key), strings.Join(a.Principals, ","), a.Where, at.Format(time.RFC3339))
		}
		return strings.Join(a.Principals, ","), nil
	}
	if excluded != "" {
		return "", fmt.Errorf("SSH signature by %s: the key is allowed only for other namespaces than git (%s)", ssh.FingerprintSHA256(s.key), excluded)
	}
	return "", fmt.Errorf("SSH signature by %s, a key not in the allowed signers", ssh.FingerprintSHA256(s.key))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
