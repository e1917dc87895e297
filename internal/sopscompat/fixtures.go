package sopscompat

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
)

// ManifestFile is the name of the manifest in the fixture directory.
const ManifestFile = "fixtures.json"

// Manifest is fixtures.json: the keys and files of the fixture directory,
// and how sops made each file.
type Manifest struct {
	Note        string    `json:"note"`
	SopsVersion string    `json:"sops_version"`
	Keys        []Key     `json:"keys"`
	Files       []Fixture `json:"files"`
}

// Key is one of the test keys of the fixtures (made anew by each run of
// the generator; they protect nothing but the fixtures).
type Key struct {
	Name string `json:"name"`
	// Type is x25519, pq (ML-KEM-768 + X25519) or ssh-ed25519.
	Type string `json:"type"`
	// File is the identity file, relative to the fixture directory.
	File      string `json:"file"`
	Recipient string `json:"recipient"`
}

// Fixture is one encrypted file of the fixture directory.
type Fixture struct {
	// File is the file's name; its extension gives its format, for
	// gitfleet and sops alike.
	File   string `json:"file"`
	Format string `json:"format"`
	// Plain is the plaintext it holds, relative to the fixture directory.
	Plain string `json:"plain"`
	// Groups are the names of the keys of each key group.
	Groups [][]string `json:"groups"`
	// Threshold is the number of key groups that open the file (the
	// number of groups, unless Shamir's scheme says fewer).
	Threshold        int  `json:"threshold"`
	Rule             Rule `json:"rule"`
	MACOnlyEncrypted bool `json:"mac_only_encrypted,omitempty"`
	// MadeBy is "sops encrypt", "sops rotate" (a new data key, the
	// recipients of the first group changed) or "sops updatekeys" (the
	// same data key for new key groups); From is the fixture rotated.
	MadeBy string `json:"made_by"`
	From   string `json:"from,omitempty"`
}

const (
	byEncrypt    = "sops encrypt"
	byRotate     = "sops rotate"
	byUpdateKeys = "sops updatekeys"
)

// keyNames are the test keys, in the order of the manifest.
var keyNames = []struct{ name, typ, file string }{
	{"x0", "x25519", "keys/x0.key"},
	{"x1", "x25519", "keys/x1.key"},
	{"x2", "x25519", "keys/x2.key"},
	{"pq", "pq", "keys/pq.key"},
	{"ssh", "ssh-ed25519", "keys/ssh_ed25519"},
}

// Fixtures lists the files the generator writes, a rotation after the
// file it starts from. Format, plaintext and rules of a rotation are those
// of its From; Threshold 0 means every group; a zero Rule, DefaultRule.
func Fixtures() []Fixture {
	enc := func(file, plain string, groups [][]string) Fixture {
		return Fixture{File: file, Plain: "plain/" + plain, Groups: groups, MadeBy: byEncrypt}
	}
	rule := func(f Fixture, kind, value string) Fixture { f.Rule = Rule{kind, value}; return f }
	macOnly := func(f Fixture) Fixture { f.MACOnlyEncrypted = true; return f }
	threshold := func(f Fixture, n int) Fixture { f.Threshold = n; return f }
	one := [][]string{{"x0"}}
	two := [][]string{{"x0", "x1"}}
	three := [][]string{{"x0", "x1", "x2"}}
	apart := [][]string{{"x0"}, {"x1"}, {"x2"}}
	return []Fixture{
		// Every format, for one recipient and for two.
		enc("yaml.sops.yaml", "prod.yaml", one),
		enc("json.sops.json", "prod.json", one),
		enc("dotenv.sops.env", "app.env", one),
		enc("binary.sops.bin", "blob.bin", one),
		enc("two.sops.yaml", "prod.yaml", two),
		enc("two.sops.json", "prod.json", two),
		enc("two.sops.env", "app.env", two),
		enc("two.sops.bin", "blob.bin", two),
		enc("other.sops.env", "other.env", one),
		// The same plaintext again (another data key), and one value changed.
		enc("yaml-again.sops.yaml", "prod.yaml", one),
		enc("yaml-changed.sops.yaml", "prod-changed.yaml", one),
		// Every rule, for three recipients.
		enc("rules-default.sops.yaml", "rules.yaml", three),
		rule(enc("rules-encrypted-regex.sops.yaml", "rules.yaml", three), "encrypted_regex", "^(password|token_secret)$"),
		rule(enc("rules-unencrypted-regex.sops.yaml", "rules.yaml", three), "unencrypted_regex", "^public_"),
		rule(enc("rules-encrypted-suffix.sops.yaml", "rules.yaml", three), "encrypted_suffix", "_secret"),
		rule(enc("rules-unencrypted-suffix.sops.yaml", "rules.yaml", three), "unencrypted_suffix", "_name"),
		macOnly(rule(enc("rules-mac-only.sops.yaml", "rules.yaml", three), "encrypted_regex", "^password$")),
		rule(enc("rules-encrypted-regex.sops.json", "prod.json", three), "encrypted_regex", "^password$"),
		macOnly(rule(enc("rules-mac-only.sops.env", "app.env", three), "encrypted_regex", "^DB_PASSWORD$")),
		// Key groups: Shamir's scheme.
		threshold(enc("shamir-2-of-3.sops.yaml", "rules.yaml", apart), 2),
		enc("shamir-3-of-3.sops.yaml", "rules.yaml", apart),
		enc("shamir-groups.sops.json", "prod.json", [][]string{{"x0", "x1"}, {"x2"}}),
		// Post-quantum and SSH recipients.
		enc("pq-ssh.sops.yaml", "prod.yaml", [][]string{{"pq", "ssh"}}),
		// Rotations by sops.
		rule(enc("rotate-from.sops.yaml", "prod.yaml", one), "encrypted_regex", "^(password|api_token)$"),
		{File: "sops-rotated.sops.yaml", Groups: [][]string{{"x1", "x2"}}, MadeBy: byRotate, From: "rotate-from.sops.yaml"},
		{File: "sops-updatekeys.sops.yaml", Groups: [][]string{{"x1", "x2"}}, MadeBy: byUpdateKeys, From: "rotate-from.sops.yaml"},
		{File: "sops-updatekeys-shamir.sops.yaml", Groups: apart, Threshold: 2, MadeBy: byUpdateKeys, From: "rotate-from.sops.yaml"},
	}
}

// normalized fills what Fixtures leaves to defaults or to From, and the
// format from the name.
func normalized(list []Fixture) ([]Fixture, error) {
	byName := map[string]Fixture{}
	var out []Fixture
	for _, f := range list {
		if f.From != "" {
			from, ok := byName[f.From]
			if !ok {
				return nil, fmt.Errorf("%s: rotates %s, which is not before it", f.File, f.From)
			}
			f.Plain, f.Rule, f.MACOnlyEncrypted = from.Plain, from.Rule, from.MACOnlyEncrypted
		}
		f.Format = formatOf(f.File)
		if f.Rule == (Rule{}) {
			f.Rule = DefaultRule
		}
		if f.Threshold == 0 {
			f.Threshold = len(f.Groups)
		}
		byName[f.File] = f
		out = append(out, f)
	}
	return out, nil
}

// formatOf chooses the format by the name as sops and gitfleet do.
func formatOf(name string) string {
	switch filepath.Ext(name) {
	case ".yaml", ".yml":
		return "yaml"
	case ".json":
		return "json"
	case ".env":
		return "dotenv"
	}
	return "binary"
}

// Generate makes new test keys and encrypts the Fixtures with the sops
// library into dir, which holds the plaintexts under plain/; it writes
// the keys under keys/, the files, and the manifest, and removes files of
// an earlier run that the list no longer names. It sets the process
// environment with set (os.Setenv, or testing.T.Setenv) so that sops
// finds exactly the test keys when it rotates.
func Generate(dir string, set func(k, v string)) (*Manifest, error) {
	list, err := normalized(Fixtures())
	if err != nil {
		return nil, err
	}
	m := &Manifest{
		Note:        "Written by internal/sopscompat (make sops-fixtures) with the sops library; do not edit. The keys are test keys of these files only.",
		SopsVersion: SopsVersion,
		Files:       list,
	}
	identities, sshFile, err := writeKeys(dir, m)
	if err != nil {
		return nil, err
	}
	empty, err := os.MkdirTemp("", "sopscompat-home")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(empty)
	KeyEnv(set, os.Unsetenv, identities, sshFile, empty)
	if err := removeOld(dir); err != nil {
		return nil, err
	}
	made := map[string][]byte{}
	for _, f := range list {
		data, err := m.make(dir, f, made)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.File, err)
		}
		made[f.File] = data
		if err := os.WriteFile(filepath.Join(dir, f.File), data, 0o644); err != nil {
			return nil, err
		}
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return m, os.WriteFile(filepath.Join(dir, ManifestFile), append(js, '\n'), 0o644)
}

// make encrypts, rotates or updates one fixture.
func (m *Manifest) make(dir string, f Fixture, made map[string][]byte) ([]byte, error) {
	groups := m.Recipients(f.Groups)
	switch f.MadeBy {
	case byEncrypt:
		plain, err := os.ReadFile(filepath.Join(dir, f.Plain))
		if err != nil {
			return nil, err
		}
		threshold := f.Threshold
		if len(groups) == 1 {
			threshold = 0 // as sops writes a file of one group
		}
		return Encrypt(f.Format, plain, Options{Groups: groups, Threshold: threshold, Rule: f.Rule, MACOnlyEncrypted: f.MACOnlyEncrypted})
	case byRotate:
		from := m.Fixture(f.From)
		if len(from.Groups) != 1 || len(f.Groups) != 1 {
			return nil, fmt.Errorf("a rotation changes the first of one key group")
		}
		old, now := m.Recipients(from.Groups)[0], groups[0]
		var add, remove []string
		for _, r := range now {
			if !slices.Contains(old, r) {
				add = append(add, r)
			}
		}
		for _, r := range old {
			if !slices.Contains(now, r) {
				remove = append(remove, r)
			}
		}
		return Rotate(f.Format, made[f.From], add, remove)
	case byUpdateKeys:
		return UpdateKeys(f.Format, made[f.From], groups, f.Threshold)
	}
	return nil, fmt.Errorf("made by %q?", f.MadeBy)
}

// Fixture returns the fixture of a file name (zero if none).
func (m *Manifest) Fixture(file string) Fixture {
	for _, f := range m.Files {
		if f.File == file {
			return f
		}
	}
	return Fixture{}
}

// Key returns the key of a name (zero if none).
func (m *Manifest) Key(name string) Key {
	for _, k := range m.Keys {
		if k.Name == name {
			return k
		}
	}
	return Key{}
}

// Recipients turns key names into recipients.
func (m *Manifest) Recipients(groups [][]string) [][]string {
	var out [][]string
	for _, g := range groups {
		var rs []string
		for _, name := range g {
			rs = append(rs, m.Key(name).Recipient)
		}
		out = append(out, rs)
	}
	return out
}

// writeKeys makes the test keys, writes them under dir/keys, and returns
// the text of the age identities and the SSH key file's path.
func writeKeys(dir string, m *Manifest) (identities, sshFile string, err error) {
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		return "", "", err
	}
	var all []string
	for _, k := range keyNames {
		var text, recipient string
		switch k.typ {
		case "x25519":
			id, err := age.GenerateX25519Identity()
			if err != nil {
				return "", "", err
			}
			text, recipient = id.String(), id.Recipient().String()
		case "pq":
			id, err := age.GenerateHybridIdentity()
			if err != nil {
				return "", "", err
			}
			text, recipient = id.String(), id.Recipient().String()
		case "ssh-ed25519":
			text, recipient, err = sshKey("gitfleet test key " + k.name)
			if err != nil {
				return "", "", err
			}
		}
		content := text + "\n"
		if k.typ != "ssh-ed25519" {
			all = append(all, text)
			content = "# gitfleet test key " + k.name + " of the sops fixtures; it protects nothing else\n# public key: " + recipient + "\n" + content
		}
		if err := os.WriteFile(filepath.Join(dir, k.file), []byte(content), 0o600); err != nil {
			return "", "", err
		}
		m.Keys = append(m.Keys, Key{Name: k.name, Type: k.typ, File: k.file, Recipient: recipient})
	}
	return strings.Join(all, "\n"), filepath.Join(dir, "keys/ssh_ed25519"), nil
}

// sshKey makes an unencrypted OpenSSH ed25519 key.
func sshKey(comment string) (private, recipient string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return "", "", err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", "", err
	}
	return string(bytes.TrimSpace(pem.EncodeToMemory(block))), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))), nil
}

// removeOld removes the encrypted files of an earlier run.
func removeOld(dir string) error {
	old, err := filepath.Glob(filepath.Join(dir, "*.sops.*"))
	if err != nil {
		return err
	}
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}
