package secrets

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// The first line of a binary age file and of an armored one.
const (
	ageMagic   = "age-encryption.org/"
	armorBegin = "-----BEGIN AGE ENCRYPTED FILE-----"
)

// ageReader returns the binary age stream of a file, de-armored if it is
// armored, or ErrNotEncrypted when it is neither.
func ageReader(path string, data []byte) (io.Reader, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case bytes.HasPrefix(trimmed, []byte(armorBegin)):
		return armor.NewReader(bytes.NewReader(data)), nil
	case bytes.HasPrefix(data, []byte(ageMagic)):
		return bytes.NewReader(data), nil
	case bytes.HasPrefix(trimmed, []byte(armorBegin[:10])) || bytes.HasPrefix(data, []byte("age-")):
		return nil, fail(path, ErrMalformed, "is not a well-formed age file")
	}
	return nil, fail(path, ErrNotEncrypted, "is not an age file: it is not encrypted (refusing a secret in plaintext)")
}

// decryptAge decrypts a plain age file.
func (k *Keys) decryptAge(path string, data []byte) (Value, error) {
	src, err := ageReader(path, data)
	if err != nil {
		return Value{}, err
	}
	stanzas, err := ageStanzas(path, data)
	if err != nil {
		return Value{}, err
	}
	r, err := age.Decrypt(src, k.ids...)
	if err != nil {
		var none *age.NoIdentityMatchError
		if errors.As(err, &none) {
			return Value{}, &Error{File: path, Kind: ErrWrongKey, Tried: k.tried(),
				Reason: fmt.Sprintf("none of the %d age keys given decrypts it (an age file does not name its recipients; its recipient stanzas: %s)", len(k.ids), strings.Join(stanzas, ", "))}
		}
		return Value{}, ageFailure(path, err)
	}
	// The plaintext of an age file is smaller than the file.
	plain, err := io.ReadAll(io.LimitReader(r, int64(len(data))))
	if err != nil {
		return Value{}, ageFailure(path, err)
	}
	return newValue(plain), nil
}

// ageFailure classifies an error of age other than a wrong key.
func ageFailure(path string, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "failed to read nonce"):
		return fail(path, ErrMalformed, "age file ends early (truncated?)")
	case strings.Contains(msg, "header MAC"):
		return fail(path, ErrIntegrity, "the age header does not authenticate: it was changed")
	case strings.Contains(msg, "authenticate") || strings.Contains(msg, "last chunk"):
		return fail(path, ErrIntegrity, "the age payload does not authenticate: it is damaged, truncated or was changed")
	case strings.Contains(msg, "header"):
		return fail(path, ErrMalformed, "the age header is not well-formed")
	}
	return fail(path, ErrMalformed, "is not a well-formed age file")
}

// stanzaTypeRE is a stanza type fit to be shown.
var stanzaTypeRE = regexp.MustCompile(`^[A-Za-z0-9._+-]{1,40}$`)

// maxStanzas bounds the recipient stanzas read from an age header.
const maxStanzas = 1000

// ageStanzas lists the types of the recipient stanzas of an age file's
// header ("X25519", "mlkem768x25519", "ssh-ed25519"), which is all an
// age file says about whom it is for.
func ageStanzas(path string, data []byte) ([]string, error) {
	src, err := ageReader(path, data)
	if err != nil {
		return nil, err
	}
	hdr, err := age.ExtractHeader(src)
	if err != nil {
		return nil, ageFailure(path, err)
	}
	var types []string
	sc := bufio.NewScanner(bytes.NewReader(hdr))
	for sc.Scan() && len(types) < maxStanzas {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "->" {
			t := "(unknown)"
			if stanzaTypeRE.MatchString(f[1]) {
				t = f[1]
			}
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		return nil, fail(path, ErrMalformed, "the age header has no recipient stanza")
	}
	return types, nil
}

// EncryptAge encrypts plaintext into an age file for the recipients (age
// X25519 "age1...", post-quantum "age1pq1..." or SSH "ssh-ed25519 ..."
// public keys), armored (PEM-like text) or binary.
func EncryptAge(plaintext []byte, recipients []string, armored bool) ([]byte, error) {
	rs, err := ParseRecipients(recipients)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	var dst io.Writer = &buf
	var aw io.WriteCloser
	if armored {
		aw = armor.NewWriter(&buf)
		dst = aw
	}
	w, err := age.Encrypt(dst, rs...)
	if err != nil {
		return nil, fmt.Errorf("age: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("age: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("age: %w", err)
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			return nil, fmt.Errorf("age armor: %w", err)
		}
	}
	return buf.Bytes(), nil
}
