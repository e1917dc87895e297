package sopscompat

import (
	"fmt"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/common"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/decrypt"
	"github.com/getsops/sops/v3/keyservice"
	"github.com/getsops/sops/v3/version"
)

// SopsVersion is the version of the sops library this module tests
// against; sops writes it into every file's metadata.
var SopsVersion = version.Version

// Rule is the one rule of a file that chooses which values sops encrypts.
type Rule struct {
	// Kind is unencrypted_suffix, encrypted_suffix, unencrypted_regex or
	// encrypted_regex.
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// DefaultRule is what `sops encrypt` uses when given no rule.
var DefaultRule = Rule{Kind: "unencrypted_suffix", Value: sops.DefaultUnencryptedSuffix}

// Options are the choices of `sops encrypt`.
type Options struct {
	// Groups are the age recipients of each key group; more than one
	// group splits the data key with Shamir's scheme.
	Groups [][]string
	// Threshold is the number of groups needed (0: all of them).
	Threshold int
	// Rule is the rule of the file (zero: DefaultRule).
	Rule             Rule
	MACOnlyEncrypted bool
}

func store(format string) (common.Store, error) {
	switch format {
	case "yaml", "json", "dotenv", "binary":
		return common.StoreForFormat(formats.FormatFromString(format), config.NewStoresConfig()), nil
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

func keyGroups(groups [][]string) ([]sops.KeyGroup, error) {
	var out []sops.KeyGroup
	for _, g := range groups {
		var group sops.KeyGroup
		for _, r := range g {
			mk, err := sopsage.MasterKeyFromRecipient(r)
			if err != nil {
				return nil, fmt.Errorf("recipient %s: %w", r, err)
			}
			group = append(group, mk)
		}
		out = append(out, group)
	}
	return out, nil
}

// localKeys is the key service the sops command uses without
// --keyservice: age keys from the process environment (see KeyEnv).
func localKeys() []keyservice.KeyServiceClient {
	return []keyservice.KeyServiceClient{keyservice.NewLocalClient()}
}

// Encrypt encrypts plaintext (format yaml, json, dotenv or binary) as
// `sops encrypt` does: the same metadata, a new data key encrypted through
// the local key service, values encrypted by the library's tree walk.
func Encrypt(format string, plaintext []byte, o Options) ([]byte, error) {
	st, err := store(format)
	if err != nil {
		return nil, err
	}
	branches, err := st.LoadPlainFile(plaintext)
	if err != nil {
		return nil, fmt.Errorf("sops: load plaintext: %w", err)
	}
	groups, err := keyGroups(o.Groups)
	if err != nil {
		return nil, err
	}
	md := sops.Metadata{KeyGroups: groups, ShamirThreshold: o.Threshold, MACOnlyEncrypted: o.MACOnlyEncrypted, Version: version.Version}
	rule := o.Rule
	if rule == (Rule{}) {
		rule = DefaultRule
	}
	switch rule.Kind {
	case "unencrypted_suffix":
		md.UnencryptedSuffix = rule.Value
	case "encrypted_suffix":
		md.EncryptedSuffix = rule.Value
	case "unencrypted_regex":
		md.UnencryptedRegex = rule.Value
	case "encrypted_regex":
		md.EncryptedRegex = rule.Value
	default:
		return nil, fmt.Errorf("unknown rule %q", rule.Kind)
	}
	tree := sops.Tree{Branches: branches, Metadata: md}
	key, errs := tree.GenerateDataKeyWithKeyServices(localKeys())
	if len(errs) > 0 {
		return nil, fmt.Errorf("sops: data key: %v", errs)
	}
	return seal(st, &tree, key)
}

func seal(st common.Store, tree *sops.Tree, key []byte) ([]byte, error) {
	if err := common.EncryptTree(common.EncryptTreeOpts{DataKey: key, Tree: tree, Cipher: aes.NewCipher()}); err != nil {
		return nil, fmt.Errorf("sops: encrypt: %w", err)
	}
	out, err := st.EmitEncryptedFile(*tree)
	if err != nil {
		return nil, fmt.Errorf("sops: emit: %w", err)
	}
	return out, nil
}

// Rotate does what `sops rotate --add-age ADD --rm-age REMOVE` does: it
// decrypts the file with the keys of the environment (KeyEnv), changes the
// recipients of the first key group, and encrypts every value again with a
// new data key.
func Rotate(format string, data []byte, add, remove []string) ([]byte, error) {
	st, err := store(format)
	if err != nil {
		return nil, err
	}
	tree, err := st.LoadEncryptedFile(data)
	if err != nil {
		return nil, fmt.Errorf("sops: load: %w", err)
	}
	if _, err := common.DecryptTree(common.DecryptTreeOpts{Cipher: aes.NewCipher(), Tree: &tree, KeyServices: localKeys()}); err != nil {
		return nil, fmt.Errorf("sops: decrypt: %w", err)
	}
	added, err := keyGroups([][]string{add})
	if err != nil {
		return nil, err
	}
	tree.Metadata.KeyGroups[0] = append(tree.Metadata.KeyGroups[0], added[0]...)
	for _, r := range remove {
		for i, g := range tree.Metadata.KeyGroups {
			kept := sops.KeyGroup{}
			for _, k := range g {
				if k.ToString() != r {
					kept = append(kept, k)
				}
			}
			tree.Metadata.KeyGroups[i] = kept
		}
	}
	key, errs := tree.GenerateDataKeyWithKeyServices(localKeys())
	if len(errs) > 0 {
		return nil, fmt.Errorf("sops: data key: %v", errs)
	}
	return seal(st, &tree, key)
}

// UpdateKeys does what `sops updatekeys` does after .sops.yaml changed: it
// decrypts the data key with the keys of the environment (KeyEnv) and
// encrypts the same data key for new key groups; the values are not
// touched.
func UpdateKeys(format string, data []byte, groups [][]string, threshold int) ([]byte, error) {
	st, err := store(format)
	if err != nil {
		return nil, err
	}
	tree, err := st.LoadEncryptedFile(data)
	if err != nil {
		return nil, fmt.Errorf("sops: load: %w", err)
	}
	key, err := tree.Metadata.GetDataKeyWithKeyServices(localKeys(), nil)
	if err != nil {
		return nil, fmt.Errorf("sops: data key: %w", err)
	}
	if tree.Metadata.KeyGroups, err = keyGroups(groups); err != nil {
		return nil, err
	}
	tree.Metadata.ShamirThreshold = min(threshold, len(groups))
	if errs := tree.Metadata.UpdateMasterKeysWithKeyServices(key, localKeys()); len(errs) > 0 {
		return nil, fmt.Errorf("sops: update keys: %v", errs)
	}
	out, err := st.EmitEncryptedFile(tree)
	if err != nil {
		return nil, fmt.Errorf("sops: emit: %w", err)
	}
	return out, nil
}

// Decrypt decrypts with the sops library's decrypt package, as
// `sops decrypt` does, with the keys of the environment (KeyEnv).
func Decrypt(format string, data []byte) ([]byte, error) {
	if _, err := store(format); err != nil {
		return nil, err
	}
	return decrypt.DataWithFormat(data, formats.FormatFromString(format))
}

// The variables through which sops finds age keys, besides the files
// under the home and configuration directories.
var keyVars = []string{
	sopsage.SopsAgeKeyEnv, sopsage.SopsAgeKeyFileEnv, sopsage.SopsAgeKeyCmdEnv,
	sopsage.SopsAgeSshPrivateKeyFileEnv, sopsage.SopsAgeSshPrivateKeyCmdEnv,
}

// KeyEnv sets the process environment so that the sops library finds
// exactly the given keys: age identities (the text of identity files) in
// SOPS_AGE_KEY and an OpenSSH key file in SOPS_AGE_SSH_PRIVATE_KEY_FILE,
// with HOME and XDG_CONFIG_HOME at emptyDir so that it finds no key of
// the user's (~/.ssh/id_ed25519, ~/.config/sops/age/keys.txt). set is
// os.Setenv or testing.T.Setenv; unset is os.Unsetenv (after a
// testing.T.Setenv of the same name, which restores it).
func KeyEnv(set func(k, v string), unset func(k string) error, identities, sshKeyFile, emptyDir string) {
	for _, k := range keyVars {
		set(k, "")
		unset(k)
	}
	set("HOME", emptyDir)
	set("XDG_CONFIG_HOME", emptyDir)
	if identities != "" {
		set(sopsage.SopsAgeKeyEnv, identities)
	}
	if sshKeyFile != "" {
		set(sopsage.SopsAgeSshPrivateKeyFileEnv, sshKeyFile)
	}
}
