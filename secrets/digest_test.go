package secrets

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"text/template"
	"time"
)

// digestsOf decrypts a file, and returns the digests of its values (as a
// Set named "db" sees them) and of a file rendered from it.
func digestsOf(t *testing.T, d *Digester, keys *Keys, data []byte) (map[string]Digest, Digest) {
	t.Helper()
	f, err := keys.Decrypt("secrets/db.yaml", data, FormatAuto)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	s := NewSet()
	if err := s.Add("db", f); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	tmpl := template.Must(template.New("f").Option("missingkey=error").Parse("user=app\npassword={{ .Secrets.db.db.password }}\ntoken={{ .Secrets.db.api_token }}\n"))
	if err := tmpl.Execute(&b, map[string]any{"Secrets": s.TemplateData()}); err != nil {
		t.Fatal(err)
	}
	return d.Values(s), d.File("/etc/web/db.conf", b.Bytes())
}

func TestDigestsSurviveReencryptionNewRecipientsAndRotatedKeys(t *testing.T) {
	d, err := NewDigester([]byte("0123456789abcdef0123456789abcdef-digest"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// Two encryptions by sops of the same plaintext for x0.
	first, again := fromSops(t, "yaml.sops.yaml"), fromSops(t, "yaml-again.sops.yaml")
	if bytes.Equal(first, again) {
		t.Fatal("two encryptions are the same bytes: the test proves nothing")
	}
	newRecipient, err := Encrypt([]byte(plainYAML), FormatYAML, fixtureRecipients(t, "x0", "x1"), now)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := fixtureKeys(t, "x0").Rotate("secrets/db.yaml", first, FormatAuto, fixtureRecipients(t, "x2"), now)
	if err != nil {
		t.Fatal(err)
	}
	wantValues, wantFile := digestsOf(t, d, fixtureKeys(t, "x0"), first)
	if len(wantValues) != 10 {
		t.Fatalf("%d digests, want one per value (10): %v", len(wantValues), wantValues)
	}
	for name, c := range map[string]struct {
		keys *Keys
		data []byte
	}{
		"re-encrypted with the same plaintext":  {fixtureKeys(t, "x0"), again},
		"encrypted for a new recipient":         {fixtureKeys(t, "x1"), newRecipient},
		"rotated to a new age key":              {fixtureKeys(t, "x2"), rotated},
		"encrypted with another rule":           {fixtureKeys(t, "x0"), fromSops(t, "rotate-from.sops.yaml")},
		"sops rotate, for new recipients":       {fixtureKeys(t, "x1"), fromSops(t, "sops-rotated.sops.yaml")},
		"sops updatekeys, for new recipients":   {fixtureKeys(t, "x2"), fromSops(t, "sops-updatekeys.sops.yaml")},
		"sops updatekeys, to Shamir key groups": {fixtureKeys(t, "x0", "x2"), fromSops(t, "sops-updatekeys-shamir.sops.yaml")},
	} {
		values, file := digestsOf(t, d, c.keys, c.data)
		if !reflect.DeepEqual(values, wantValues) {
			t.Errorf("%s: value digests changed", name)
		}
		if file != wantFile {
			t.Errorf("%s: the rendered file's digest changed: %s, want %s", name, file, wantFile)
		}
		for ref, dg := range values {
			if got := Describe(wantValues[ref], dg); got != Unchanged {
				t.Errorf("%s: %s is %s", name, ref, got)
			}
		}
	}

	// One changed secret: its digest and the file's change, no other.
	changed := fromSops(t, "yaml-changed.sops.yaml") // hunter2 → hunter3
	values, file := digestsOf(t, d, fixtureKeys(t, "x0"), changed)
	for ref, dg := range values {
		want := Unchanged
		if ref == "db.db.password" {
			want = Changed
		}
		if got := Describe(wantValues[ref], dg); got != want {
			t.Errorf("after changing db.password, %s is %s, want %s", ref, got, want)
		}
	}
	if Describe(wantFile, file) != Changed {
		t.Error("the rendered file's digest did not change with its secret")
	}
}

func TestDigestsAreKeyedAndNamed(t *testing.T) {
	a, _ := NewDigester([]byte(strings.Repeat("a", 32)))
	b, _ := NewDigester([]byte(strings.Repeat("b", 32)))
	v := newValue([]byte("hunter2"))
	if a.Value("x", v) == b.Value("x", v) {
		t.Error("two digest keys give the same digest")
	}
	if a.Value("x", v) == a.Value("y", v) {
		t.Error("the same value under two names has the same digest: digests would tell equal secrets")
	}
	if a.Value("x", v) != a.Value("x", newValue([]byte("hunter2"))) {
		t.Error("the same value and name digest differently")
	}
	if a.File("/etc/x", []byte("hunter2")) == a.Value("/etc/x", v) {
		t.Error("a file and a value of the same bytes digest the same")
	}
	dg := a.Value("x", v)
	if !dg.Valid() || Digest("sha256:00").Valid() || strings.Contains(string(dg), "hunter2") {
		t.Errorf("digest %s", dg)
	}
	for _, c := range []struct {
		before, after Digest
		want          string
	}{{"", dg, Changed}, {dg, dg, Unchanged}, {dg, a.Value("y", v), Changed}, {"", "", Changed}} {
		if got := Describe(c.before, c.after); got != c.want {
			t.Errorf("Describe(%q, %q) = %s, want %s", c.before, c.after, got, c.want)
		}
	}
}

func TestDigestKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("digest.key", "S2V5IG1hdGVyaWFsIG9mIHRoZSBkaWdlc3Qga2V5IQ==\n")
	d1, err := LoadDigestKey(good)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := LoadDigestKey(good) // a restart, or another replica
	if err != nil {
		t.Fatal(err)
	}
	v := newValue([]byte("hunter2"))
	if d1.Value("db.password", v) != d2.Value("db.password", v) {
		t.Error("the same key file gives different digests")
	}
	for name, c := range map[string]struct{ path, says string }{
		"short":      {write("short", "tooshort-secretkey\n"), "has 18 bytes; use at least 32"},
		"two lines":  {write("two", strings.Repeat("x", 20)+"\n"+strings.Repeat("y", 20)), "line break"},
		"missing":    {filepath.Join(dir, "none"), "no such file"},
		"too large":  {write("large", strings.Repeat("z", 5000)), "larger than"},
		"whitespace": {write("empty", " \n\t\n"), "has 0 bytes"},
	} {
		_, err := LoadDigestKey(c.path)
		if err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %v, want one naming %s and saying %q", name, err, c.path, c.says)
		}
		if err != nil && (strings.Contains(err.Error(), "tooshort") || strings.Contains(err.Error(), "xxxx")) {
			t.Errorf("%s: error %q quotes the key", name, err)
		}
	}
}
