package secrets

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// FuzzDecrypt feeds damaged files to Inspect and Decrypt: neither may
// panic, and no error may show the plaintext unless the input holds it in
// clear. Run longer with: go test -fuzz FuzzDecrypt ./secrets
func FuzzDecrypt(f *testing.F) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	keys := NewKeys(id)
	r := []string{id.Recipient().String()}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		plain []byte
		f     Format
	}{
		{[]byte(plainYAML), FormatYAML}, {[]byte(plainJSON), FormatJSON},
		{[]byte(strings.TrimPrefix(plainDotenv, "# comment\n")), FormatDotenv}, {plainBinary, FormatBinary},
	} {
		data, err := Encrypt(c.plain, c.f, r, now)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(c.f))
	}
	for _, armored := range []bool{false, true} {
		data, err := EncryptAge([]byte("hunter2-Very-Secret"), r, armored)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(FormatAge))
	}
	f.Fuzz(func(t *testing.T, data []byte, format uint8) {
		fm := Format(format % 6)
		if fm == FormatAuto {
			fm = FormatYAML
		}
		for _, op := range []func() error{
			func() error { _, err := Inspect("f", data, fm); return err },
			func() error { _, err := keys.Decrypt("f", data, fm); return err },
		} {
			err := op()
			if err == nil {
				continue
			}
			for _, s := range fixtureSecrets {
				if strings.Contains(err.Error(), s) && !bytes.Contains(data, []byte(s)) {
					t.Fatalf("error shows %q: %v", s, err)
				}
			}
		}
	})
}
