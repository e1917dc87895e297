package secrets

// The sops library (v3.13.3) is the oracle of these tests: it encrypts the
// files gitfleet decrypts, and decrypts the files gitfleet encrypts. It is
// imported by tests only; the gitfleet binary does not link it.

import (
	"crypto/rand"
	"testing"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	sopsaes "github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/common"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/decrypt"
	"github.com/getsops/sops/v3/shamir"
)

// sopsOpts are the choices of `sops encrypt` a test makes.
type sopsOpts struct {
	// groups are the recipients of each key group (one group: no Shamir).
	groups    [][]string
	threshold int
	// At most one rule; none is sops's default (unencrypted_suffix).
	unencryptedSuffix, encryptedSuffix, unencryptedRegex, encryptedRegex string
	macOnly                                                              bool
}

var sopsFormats = map[Format]formats.Format{
	FormatYAML: formats.Yaml, FormatJSON: formats.Json, FormatDotenv: formats.Dotenv, FormatBinary: formats.Binary,
}

// sopsEncrypt encrypts plaintext with the sops library, as `sops encrypt`
// does.
func sopsEncrypt(t testing.TB, f Format, plaintext []byte, o sopsOpts) []byte {
	t.Helper()
	store := common.StoreForFormat(sopsFormats[f], config.NewStoresConfig())
	branches, err := store.LoadPlainFile(plaintext)
	if err != nil {
		t.Fatalf("sops: load plaintext: %v", err)
	}
	md := sops.Metadata{
		UnencryptedSuffix: o.unencryptedSuffix, EncryptedSuffix: o.encryptedSuffix,
		UnencryptedRegex: o.unencryptedRegex, EncryptedRegex: o.encryptedRegex,
		MACOnlyEncrypted: o.macOnly, ShamirThreshold: o.threshold, Version: "3.13.3",
	}
	if md.UnencryptedSuffix == "" && md.EncryptedSuffix == "" && md.UnencryptedRegex == "" && md.EncryptedRegex == "" {
		md.UnencryptedSuffix = sops.DefaultUnencryptedSuffix
	}
	for _, g := range o.groups {
		var group sops.KeyGroup
		for _, r := range g {
			mk, err := sopsage.MasterKeyFromRecipient(r)
			if err != nil {
				t.Fatalf("sops: recipient: %v", err)
			}
			group = append(group, mk)
		}
		md.KeyGroups = append(md.KeyGroups, group)
	}
	key := make([]byte, 32)
	rand.Read(key)
	parts := [][]byte{key}
	if len(md.KeyGroups) > 1 {
		if md.ShamirThreshold == 0 {
			md.ShamirThreshold = len(md.KeyGroups)
		}
		if parts, err = shamir.Split(key, len(md.KeyGroups), md.ShamirThreshold); err != nil {
			t.Fatal(err)
		}
	}
	for i, g := range md.KeyGroups {
		for _, k := range g {
			if err := k.Encrypt(parts[min(i, len(parts)-1)]); err != nil {
				t.Fatalf("sops: encrypt data key: %v", err)
			}
		}
	}
	tree := sops.Tree{Branches: branches, Metadata: md}
	if err := common.EncryptTree(common.EncryptTreeOpts{DataKey: key, Tree: &tree, Cipher: sopsaes.NewCipher()}); err != nil {
		t.Fatalf("sops: encrypt: %v", err)
	}
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		t.Fatalf("sops: emit: %v", err)
	}
	return out
}

// sopsDecrypt decrypts with the sops library's decrypt package, the key
// given as SOPS_AGE_KEY (so the test cannot run in parallel).
func sopsDecrypt(t *testing.T, f Format, data []byte, id *age.X25519Identity) ([]byte, error) {
	t.Helper()
	t.Setenv("SOPS_AGE_KEY", id.String())
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	t.Setenv("HOME", t.TempDir())
	return decrypt.DataWithFormat(data, sopsFormats[f])
}

// ids makes n X25519 identities.
func ids(t testing.TB, n int) []*age.X25519Identity {
	t.Helper()
	out := make([]*age.X25519Identity, n)
	for i := range out {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = id
	}
	return out
}

func recipientsOf(list ...*age.X25519Identity) []string {
	var out []string
	for _, id := range list {
		out = append(out, id.Recipient().String())
	}
	return out
}

func keysOf(list ...*age.X25519Identity) *Keys {
	var out []age.Identity
	for _, id := range list {
		out = append(out, id)
	}
	return NewKeys(out...)
}
