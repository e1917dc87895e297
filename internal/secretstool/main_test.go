package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/gitfleet/gitfleet/secrets"
)

func TestEncryptRotateInspectCheck(t *testing.T) {
	dir := t.TempDir()
	path := func(n string) string { return filepath.Join(dir, n) }
	ids := make([]*age.X25519Identity, 2)
	for i := range ids {
		ids[i], _ = age.GenerateX25519Identity()
		os.WriteFile(path("k"+string(rune('0'+i))), []byte(ids[i].String()+"\n"), 0o600)
	}
	os.WriteFile(path("recipients.txt"), []byte("# team\n"+ids[0].Recipient().String()+"\n"), 0o644)
	os.WriteFile(path("prod.yaml"), []byte("db:\n  password: hunter2-Very-Secret\n"), 0o600)
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	sh := func(stdin string, args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := run(args, strings.NewReader(stdin), &out, &errb, now)
		return out.String() + errb.String(), code
	}

	if out, code := sh("", "encrypt", "-R", path("recipients.txt"), "-o", path("prod.sops.yaml"), path("prod.yaml")); code != 0 {
		t.Fatalf("encrypt: %d %s", code, out)
	}
	if out, code := sh("hunter2-token", "encrypt", "-r", ids[0].Recipient().String(), "-format", "age", "-armor", "-"); code != 0 || !strings.HasPrefix(out, "-----BEGIN AGE ENCRYPTED FILE-----") {
		t.Fatalf("encrypt stdin to an armored age file: %d %s", code, out)
	}
	out, code := sh("", "inspect", path("prod.sops.yaml"))
	if code != 0 || !strings.Contains(out, "recipient "+ids[0].Recipient().String()) || !strings.Contains(out, "value db.password") || !strings.Contains(out, "last modified 2026-02-01T00:00:00Z") {
		t.Fatalf("inspect: %d %s", code, out)
	}
	if out, code := sh("", "check", "-k", path("k0"), path("prod.sops.yaml")); code != 0 || !strings.Contains(out, "decrypts, 1 values") {
		t.Fatalf("check: %d %s", code, out)
	}
	if out, code := sh("", "rotate", "-k", path("k0"), "-r", ids[1].Recipient().String(), path("prod.sops.yaml")); code != 0 {
		t.Fatalf("rotate: %d %s", code, out)
	}
	out, code = sh("", "check", "-k", path("k0"), path("prod.sops.yaml"))
	if code != 1 || !strings.Contains(out, "none of the 1 age keys given decrypts it") {
		t.Fatalf("check with the rotated-out key: %d %s", code, out)
	}
	data, _ := os.ReadFile(path("prod.sops.yaml"))
	f, err := secrets.NewKeys(ids[1]).Decrypt("prod.sops.yaml", data, secrets.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Lookup("db.password"); v.Reveal() != "hunter2-Very-Secret" {
		t.Errorf("after rotation the password is %q", v.Reveal())
	}
	for _, args := range [][]string{{}, {"frobnicate"}, {"encrypt"}, {"rotate", path("prod.sops.yaml")}, {"encrypt", "-format", "toml", "x"}} {
		out, code := sh("", args...)
		if code == 0 || strings.Contains(out, "hunter2") {
			t.Errorf("%v: %d %s", args, code, out)
		}
	}
}
