package secrets

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/gitfleet/gitfleet/internal/sshtest"
	"golang.org/x/crypto/ssh"
)

// ageTool runs Debian's age or age-keygen, or skips (fails with CI=true)
// when it is not installed.
func ageTool(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		sshtest.Skip(t, name+" is needed (Debian: apt-get install age)")
	}
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func TestAgeFilesOfTheAgeCommand(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "age.key")
	ageTool(t, nil, "age-keygen", "-o", keyFile)
	pub := strings.TrimSpace(string(ageTool(t, nil, "age-keygen", "-y", keyFile)))
	keys, err := LoadKeys(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if r := keys.Recipients(); len(r) != 1 || r[0] != pub {
		t.Fatalf("the key file's public key is %v, age-keygen says %s", r, pub)
	}
	for _, armored := range []bool{false, true} {
		args := []string{"-r", pub}
		if armored {
			args = append(args, "-a")
		}
		data := ageTool(t, plainBinary, "age", args...)
		f, err := keys.Decrypt("secrets/tls.key.age", data, FormatAuto)
		if err != nil {
			t.Fatalf("armored=%v: %v", armored, err)
		}
		if v, _ := f.Lookup(""); !bytes.Equal(v.RevealBytes(), plainBinary) {
			t.Errorf("armored=%v: content differs", armored)
		}
		if c, _ := f.Content(); !bytes.Equal(c.RevealBytes(), plainBinary) {
			t.Errorf("armored=%v: Content differs", armored)
		}
		info, err := Inspect("secrets/tls.key.age", data, FormatAuto)
		if err != nil || len(info.Stanzas) != 1 || info.Stanzas[0] != "X25519" {
			t.Errorf("armored=%v: inspect %+v, %v", armored, info, err)
		}
		// And age decrypts what gitfleet encrypts.
		mine, err := EncryptAge(plainBinary, []string{pub}, armored)
		if err != nil {
			t.Fatal(err)
		}
		if got := ageTool(t, mine, "age", "-d", "-i", keyFile); !bytes.Equal(got, plainBinary) {
			t.Errorf("armored=%v: age -d gives %q", armored, got)
		}
	}
}

func TestAgeFileErrors(t *testing.T) {
	id := ids(t, 2)
	plain := bytes.Repeat([]byte("hunter2 "), 100)
	bin, err := EncryptAge(plain, recipientsOf(id[0]), false)
	if err != nil {
		t.Fatal(err)
	}
	armored, err := EncryptAge(plain, recipientsOf(id[0]), true)
	if err != nil {
		t.Fatal(err)
	}
	hdr := bytes.Index(bin, []byte("\n---")) + 60 // past the header MAC
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 1
		return c
	}
	// otherBase64 changes a character of base64 text into another one of
	// the alphabet, so the text stays well-formed (flipping a bit may
	// leave the alphabet: 'A' becomes '@').
	otherBase64 := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		if c[i] == 'A' {
			c[i] = 'B'
		} else {
			c[i] = 'A'
		}
		return c
	}
	for name, c := range map[string]struct {
		data []byte
		keys *Keys
		kind error
		says string
	}{
		"wrong key":                   {bin, keysOf(id[1]), ErrWrongKey, "none of the 1 age keys given decrypts it (an age file does not name its recipients; its recipient stanzas: X25519)"},
		"wrong key, armored":          {armored, keysOf(id[1]), ErrWrongKey, "keys tried: " + id[1].Recipient().String()},
		"truncated in the header":     {bin[:40], keysOf(id[0]), ErrMalformed, "header"},
		"truncated armor":             {armored[:len(armored)/2], keysOf(id[0]), ErrMalformed, ""},
		"truncated after the header":  {bin[:hdr+5], keysOf(id[0]), ErrMalformed, "truncated"},
		"truncated in the payload":    {bin[:len(bin)-10], keysOf(id[0]), ErrIntegrity, "damaged, truncated or was changed"},
		"tampered payload":            {flip(bin, len(bin)-20), keysOf(id[0]), ErrIntegrity, "payload does not authenticate"},
		"tampered header":             {otherBase64(bin, bytes.Index(bin, []byte("X25519"))+10), keysOf(id[0]), ErrWrongKey, ""},
		"not encrypted":               {[]byte("hunter2\n"), keysOf(id[0]), ErrNotEncrypted, "not encrypted"},
		"an age prefix, then garbage": {[]byte("age-encryption.org/v9\nhunter2"), keysOf(id[0]), ErrMalformed, ""},
	} {
		_, err := c.keys.Decrypt("k.age", c.data, FormatAuto)
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.says) || !strings.HasPrefix(err.Error(), "k.age: ") {
			t.Errorf("%s: error %v, want %v saying %q", name, err, c.kind, c.says)
		}
		if err != nil {
			noPlaintext(t, name, err.Error())
		}
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	x := ids(t, 2)
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(edPriv, "deploy key")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := ssh.NewPublicKey(edPriv.Public())
	sshRecipient := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
	locked, err := ssh.MarshalPrivateKeyWithPassphrase(edPriv, "", []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}

	files := []string{
		write("two.key", []byte("# created: today\n# public key: "+x[0].Recipient().String()+"\n"+x[0].String()+"\n\n"+x[1].String()+"\n")),
		write("pq.key", []byte(pq.String()+"\n")),
		write("id_ed25519", pem.EncodeToMemory(block)),
	}
	keys, err := LoadKeys(files...)
	if err != nil {
		t.Fatal(err)
	}
	wantPubs := []string{x[0].Recipient().String(), x[1].Recipient().String(), pq.Recipient().String(), sshRecipient}
	if got := keys.Recipients(); strings.Join(got, " ") != strings.Join(wantPubs, " ") {
		t.Errorf("recipients %v, want %v", got, wantPubs)
	}
	now := time.Now()
	for _, r := range wantPubs[1:] {
		data, err := Encrypt([]byte(plainYAML), FormatYAML, []string{r}, now)
		if err != nil {
			t.Fatalf("encrypt for %s: %v", PublicKeyText(r), err)
		}
		if _, err := keys.Decrypt("s.yaml", data, FormatAuto); err != nil {
			t.Errorf("%s: %v", PublicKeyText(r), err)
		}
	}
	// The sops library encrypts for post-quantum and SSH recipients too;
	// each of the two key files decrypts its file, and gives the public
	// key sops wrote.
	data := fromSops(t, "pq-ssh.sops.yaml")
	for _, name := range []string{"pq", "ssh"} {
		k := fixtureKeys(t, name)
		if got, want := k.Recipients(), fixtureRecipients(t, name); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the key file's public key is %v, sops encrypted for %v", name, got, want)
		}
		f, err := k.Decrypt("s.yaml", data, FormatAuto)
		if err != nil {
			t.Errorf("%s recipient of sops: %v", name, err)
			continue
		}
		lookups(t, f, map[string]string{"db.password": "hunter2-Very-Secret"})
	}

	for name, c := range map[string]struct {
		paths []string
		says  string
	}{
		"no file":          {nil, "no key file given"},
		"missing":          {[]string{filepath.Join(dir, "none")}, "no such file"},
		"empty":            {[]string{write("empty", nil)}, "no identities found"},
		"a broken key":     {[]string{write("broken", []byte("AGE-SECRET-KEY-1HUNTER2BROKEN\n"))}, "line 1 is not an age identity"},
		"a public key":     {[]string{write("pub", []byte(x[0].Recipient().String()+"\n"))}, "line 1 is not an age identity"},
		"a locked SSH key": {[]string{write("locked", pem.EncodeToMemory(mustBlock(t, locked)))}, "passphrase-protected"},
		"not a key":        {[]string{write("pem", []byte("-----BEGIN CERTIFICATE-----\nhunter2\n-----END CERTIFICATE-----\n"))}, "not an age identity file nor an OpenSSH private key"},
	} {
		_, err := LoadKeys(c.paths...)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %v, want %q", name, err, c.says)
			continue
		}
		if len(c.paths) > 0 && !strings.Contains(err.Error(), c.paths[0]) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
		if strings.Contains(err.Error(), "HUNTER2") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error %q quotes the file", name, err)
		}
	}
}

func mustBlock(t *testing.T, b *pem.Block) *pem.Block {
	t.Helper()
	if b == nil {
		t.Fatal("no PEM block")
	}
	return b
}
