package secrets

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// The plaintexts of the fixtures that no error may show.
var fixtureSecrets = []string{"hunter2", "tok-9f8e7d6c5b4a", "secret-blob", "y-secret", "p4ssw0rd"}

// noPlaintext fails when text shows a secret of the fixtures.
func noPlaintext(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range fixtureSecrets {
		if strings.Contains(text, s) {
			t.Errorf("%s shows the secret %q: %s", what, s, text)
		}
	}
}

// tamperValue changes the first character of the ciphertext of the value
// on the line holding marker, keeping it valid base64.
func tamperValue(t *testing.T, data []byte, marker string) []byte {
	t.Helper()
	s := string(data)
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("no %q in the file", marker)
	}
	j := i + strings.Index(s[i:], "data:") + len("data:")
	c := byte('A')
	if s[j] == 'A' {
		c = 'B'
	}
	return []byte(s[:j] + string(c) + s[j+1:])
}

// swapValues exchanges the encrypted values of two keys of a YAML file.
func swapValues(t *testing.T, data []byte, a, b string) []byte {
	t.Helper()
	re := func(k string) *regexp.Regexp { return regexp.MustCompile(`(?m)^(\s*` + k + `: )(ENC\[[^\]]*\])`) }
	ma, mb := re(a).FindSubmatch(data), re(b).FindSubmatch(data)
	if ma == nil || mb == nil {
		t.Fatalf("no encrypted %s or %s", a, b)
	}
	s := strings.Replace(string(data), string(ma[2]), "\x00A", 1)
	s = strings.Replace(s, string(mb[2]), string(ma[2]), 1)
	return []byte(strings.Replace(s, "\x00A", string(mb[2]), 1))
}

func TestErrorsSayWhatIsWrongAndNeverShowContent(t *testing.T) {
	// Files sops encrypted for x0 ("mine"); x1 and x2 are other keys.
	mine, other := fixtureKeys(t, "x0"), fixtureKeys(t, "x1")
	minePub, otherPub := fixtureRecipients(t, "x0")[0], fixtureRecipients(t, "x1")[0]
	yml := fromSops(t, "yaml.sops.yaml")
	jsn := fromSops(t, "json.sops.json")
	env := fromSops(t, "dotenv.sops.env")
	bin := fromSops(t, "binary.sops.bin")
	shamir3 := fromSops(t, "shamir-2-of-3.sops.yaml") // groups x0, x1, x2; 2 needed
	lm := regexp.MustCompile(`lastmodified: "[^"]*"`)
	damagedKey := strings.Replace(string(yml), "-----BEGIN AGE ENCRYPTED FILE-----\n            ", "-----BEGIN AGE ENCRYPTED FILE-----\n            AAAA", 1)
	kmsOnly := regexp.MustCompile(`(?s)    age:.*?-----END AGE ENCRYPTED FILE-----\n\s+recipient: \S+\n`).ReplaceAllString(string(yml),
		"    kms:\n        - arn: arn:aws:kms:eu-west-1:111122223333:key/x\n          enc: AQICAHh\n          created_at: \"2026-01-01T00:00:00Z\"\n          aws_profile: \"\"\n")
	evilRecipient := strings.Replace(string(yml), "recipient: "+minePub, "recipient: \"\\e[31mage1evil\\nnext line\"", 1)

	cases := []struct {
		name string
		path string
		data []byte
		keys *Keys
		kind error
		says []string // parts of the message
	}{
		{"wrong key", "secrets/prod.yaml", yml, other, ErrWrongKey,
			[]string{"secrets/prod.yaml: none of the 1 age keys given decrypts it", "encrypted for " + minePub, "keys tried: " + otherPub}},
		{"wrong key, dotenv", "app.env", env, fixtureKeys(t, "x1", "x2"), ErrWrongKey, []string{"none of the 2 age keys", minePub}},
		{"too few Shamir groups", "s.yaml", shamir3, other, ErrWrongKey, []string{"split in 3 key groups, 2 of which are needed; the keys given open 1"}},
		{"truncated YAML", "s.yaml", yml[:len(yml)/2], mine, ErrMalformed, []string{"truncated"}},
		{"truncated YAML inside the metadata", "s.yaml", yml[:len(yml)-40], mine, ErrMalformed, []string{"s.yaml: ", "truncated"}},
		{"truncated JSON", "s.json", jsn[:len(jsn)-30], mine, ErrMalformed, []string{"JSON ends early", "truncated"}},
		{"truncated dotenv", "a.env", env[:len(env)/3], mine, ErrMalformed, []string{"truncated"}},
		{"truncated binary", "b.bin", bin[:len(bin)/2], mine, ErrMalformed, []string{"truncated"}},
		{"tampered MAC", "s.yaml", tamperValue(t, yml, "mac: ENC["), mine, ErrIntegrity, []string{"its MAC does not authenticate"}},
		{"tampered MAC, JSON", "s.json", tamperValue(t, jsn, `"mac": "ENC[`), mine, ErrIntegrity, []string{"its MAC does not authenticate"}},
		{"changed lastmodified", "s.yaml", lm.ReplaceAll(yml, []byte(`lastmodified: "2020-01-01T00:00:00Z"`)), mine, ErrIntegrity, []string{"MAC does not authenticate"}},
		{"tampered value", "s.yaml", tamperValue(t, yml, "password: ENC["), mine, ErrIntegrity, []string{`the value of "db.password" does not authenticate`}},
		{"values moved between keys", "s.yaml", swapValues(t, yml, "password", "api_token"), mine, ErrIntegrity, []string{"does not authenticate", "moved"}},
		{"clear value changed", "s.yaml", []byte(strings.Replace(string(yml), "visible in clear", "changed in clear", 1)), mine, ErrIntegrity, []string{"MAC does not match its values"}},
		{"value added in clear", "s.yaml", []byte(strings.Replace(string(yml), "sops:\n", "injected: evil\nsops:\n", 1)), mine, ErrIntegrity, []string{`the value of "injected" is in clear`}},
		{"value removed", "s.yaml", regexp.MustCompile(`(?m)^api_token: .*\n`).ReplaceAll(yml, nil), mine, ErrIntegrity, []string{"MAC does not match"}},
		{"damaged data key of my recipient", "s.yaml", []byte(damagedKey), mine, ErrMalformed, []string{"the data key encrypted for " + minePub + " is damaged"}},
		{"not encrypted", "s.yaml", []byte(plainYAML), mine, ErrNotEncrypted, []string{"not encrypted"}},
		{"not encrypted dotenv", "a.env", []byte(plainDotenv), mine, ErrNotEncrypted, []string{"not encrypted"}},
		{"not an age file", "k.age", []byte("hunter2\n"), mine, ErrNotEncrypted, []string{"not an age file"}},
		{"KMS only", "s.yaml", []byte(kmsOnly), mine, ErrUnsupported, []string{"has no age recipient (only kms, which gitfleet does not use"}},
		{"comment rule", "s.yaml", []byte(strings.Replace(string(yml), "unencrypted_suffix: _unencrypted", "encrypted_comment_regex: sops:enc", 1)), mine, ErrUnsupported, []string{"comments"}},
		{"two rules", "s.yaml", []byte(strings.Replace(string(yml), "unencrypted_suffix: _unencrypted", "unencrypted_suffix: _u\n    encrypted_regex: x", 1)), mine, ErrMalformed, []string{"more than one of"}},
		{"two documents", "s.yaml", append(append([]byte{}, yml...), "---\n"+string(yml)...), mine, ErrUnsupported, []string{"holds 2 YAML documents"}},
		{"a recipient that is not a key", "s.yaml", []byte(evilRecipient), other, ErrWrongKey, []string{"encrypted for (invalid recipient)"}},
		{"binary of a structured file", "s.bin", jsn, mine, ErrMalformed, []string{`not a SOPS binary file`}},
		{"too large", "s.yaml", make([]byte, MaxFileBytes+1), mine, ErrMalformed, []string{"more than"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := c.keys.Decrypt(c.path, c.data, FormatAuto)
			if err == nil {
				t.Fatalf("decrypted %v, want an error", f)
			}
			if !errors.Is(err, c.kind) {
				t.Errorf("error %q is not %v", err, c.kind)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != c.path {
				t.Errorf("error %q is not an *Error of %s", err, c.path)
			}
			for _, s := range c.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			t.Log(err)
			noPlaintext(t, "the error", err.Error())
			noPlaintext(t, "the error with %+v", fmt.Sprintf("%+v %#v", err, err))
			if strings.ContainsAny(err.Error(), "\n\x1b") {
				t.Errorf("error %q holds a line break or an escape", err)
			}
		})
	}
}

func TestWrongKeyTruncationAndTamperingAreDistinct(t *testing.T) {
	yml := fromSops(t, "yaml.sops.yaml")
	kinds := map[string]error{}
	for name, c := range map[string]struct {
		data []byte
		keys *Keys
	}{
		"wrong key":    {yml, fixtureKeys(t, "x1")},
		"truncated":    {yml[:len(yml)*2/3], fixtureKeys(t, "x0")},
		"tampered MAC": {tamperValue(t, yml, "mac: ENC["), fixtureKeys(t, "x0")},
	} {
		_, err := c.keys.Decrypt("s.yaml", c.data, FormatAuto)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: %v is not an *Error", name, err)
		}
		kinds[name] = e.Kind
	}
	if kinds["wrong key"] != ErrWrongKey || kinds["truncated"] != ErrMalformed || kinds["tampered MAC"] != ErrIntegrity {
		t.Errorf("kinds %v: want wrong key, malformed, integrity", kinds)
	}
}

func TestEncryptRefusesBadRecipientsWithoutQuotingThem(t *testing.T) {
	id := ids(t, 1)
	for _, r := range []string{id[0].String(), "age1notakey", "", "hunter2"} {
		_, err := Encrypt([]byte("a: b\n"), FormatYAML, []string{id[0].Recipient().String(), r}, time.Now())
		if err == nil {
			t.Fatalf("recipient %q accepted", r)
		}
		if r != "" && strings.Contains(err.Error(), r) {
			t.Errorf("error %q quotes the recipient", err)
		}
		if !strings.Contains(err.Error(), "recipient 2 of 2") {
			t.Errorf("error %q does not say which recipient", err)
		}
	}
	if _, err := Encrypt([]byte("a: b\n"), FormatYAML, nil, time.Now()); err == nil {
		t.Error("no recipient accepted")
	}
	enc, err := Encrypt([]byte("a: b\n"), FormatYAML, recipientsOf(id...), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Encrypt(enc, FormatYAML, recipientsOf(id...), time.Now()); err == nil || !strings.Contains(err.Error(), "already holds sops metadata") {
		t.Errorf("encrypting an encrypted file: %v", err)
	}
}
