package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
)

// formatVersion is the sops version whose file format Encrypt writes.
const formatVersion = "3.13.3"

// ParseRecipients reads public keys: age X25519 ("age1..."), age
// post-quantum ("age1pq1...") or SSH ("ssh-ed25519 AAAA...", "ssh-rsa
// AAAA..."). Errors say which one in the list, without quoting it (a
// private key pasted by mistake must not be printed).
func ParseRecipients(list []string) ([]age.Recipient, error) {
	if len(list) == 0 {
		return nil, errors.New("no recipient given")
	}
	var out []age.Recipient
	for i, s := range list {
		s = strings.TrimSpace(s)
		var r age.Recipient
		var err error
		switch {
		case strings.HasPrefix(s, "age1pq1"):
			r, err = age.ParseHybridRecipient(s)
		case strings.HasPrefix(s, "age1"):
			r, err = age.ParseX25519Recipient(s)
		case strings.HasPrefix(s, "ssh-"):
			r, err = agessh.ParseRecipient(s)
		default:
			err = errors.New("unknown recipient type (want age1..., age1pq1... or ssh-...)")
		}
		if err != nil {
			// age's messages quote the input: say which, not what.
			return nil, fmt.Errorf("recipient %d of %d is not a valid age or SSH public key", i+1, len(list))
		}
		out = append(out, r)
	}
	return out, nil
}

// Encrypt encrypts plaintext as a SOPS file of format (YAML, JSON,
// dotenv or binary) for the age recipients, the way `sops encrypt` does
// with its default rule (values of keys ending in _unencrypted stay in
// clear). Comments of the plaintext are not kept. now is the file's
// sops.lastmodified. The sops command decrypts and edits the result.
func Encrypt(plaintext []byte, format Format, recipients []string, now time.Time) ([]byte, error) {
	if format == FormatAuto || format == FormatAge {
		return nil, fmt.Errorf("encrypt: give a SOPS format (yaml, json, dotenv or binary), not %s", format)
	}
	var doc *node
	var err error
	switch format {
	case FormatYAML:
		var docs []*node
		if docs, err = parseYAML(plaintext, MaxFileBytes); err == nil && len(docs) != 1 {
			err = fmt.Errorf("holds %d YAML documents; a secrets file holds one", len(docs))
		}
		if err == nil {
			doc = docs[0]
		}
	case FormatJSON:
		doc, err = parseJSON(plaintext)
	case FormatDotenv:
		doc, err = parseDotenv(plaintext)
	case FormatBinary:
		doc = newMap()
		doc.add("data", &node{kind: leafNode, leaf: string(plaintext)})
	}
	if err != nil {
		return nil, fmt.Errorf("encrypt: the plaintext: %v", err)
	}
	if doc.get(metadataKey) != nil || (format == FormatDotenv && hasMetadataPrefix(doc)) {
		return nil, errors.New("encrypt: the plaintext already holds sops metadata: is it encrypted?")
	}
	return seal(doc, format, rules{unencryptedSuffix: defaultUnencryptedSuffix}, recipients, now)
}

func hasMetadataPrefix(doc *node) bool {
	for _, k := range doc.keys {
		if strings.HasPrefix(k, metadataPrefix) {
			return true
		}
	}
	return false
}

// Rotate decrypts a SOPS file with the keys and encrypts its values again
// for recipients, with a new data key and the file's own rules: what
// `sops updatekeys` and `sops rotate` do together. The values, and so
// their digests, do not change; comments are not kept.
func (k *Keys) Rotate(path string, data []byte, format Format, recipients []string, now time.Time) ([]byte, error) {
	format = format.resolve(path)
	if format == FormatAge {
		f, err := k.Decrypt(path, data, format)
		if err != nil {
			return nil, err
		}
		armored := bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(armorBegin))
		return EncryptAge(f.whole.p.b, recipients, armored)
	}
	sf, err := parseSOPS(path, data, format)
	if err != nil {
		return nil, err
	}
	key, err := k.dataKey(path, sf.meta)
	if err != nil {
		return nil, err
	}
	tree, err := sf.decrypt(path, key)
	if err != nil {
		return nil, err
	}
	return seal(tree, format, sf.meta.rules, recipients, now)
}

// seal encrypts a plaintext tree with a new data key for the recipients
// and writes it in format with its metadata.
func seal(doc *node, format Format, r rules, recipients []string, now time.Time) ([]byte, error) {
	rs, err := ParseRecipients(recipients)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %v", err)
	}
	key := make([]byte, dataKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	h := sha512.New()
	if r.macOnlyEncrypted {
		h.Write(macOnlyInit)
	}
	enc, err := walk(doc, nil, "", 0, func(leaf any, sp []string, name string, _ int) (*node, error) {
		encrypted := r.encrypted(sp)
		if !r.macOnlyEncrypted || encrypted {
			b, err := macBytes(leaf)
			if err != nil {
				return nil, fmt.Errorf("the value of %s is %v", nameText(name), err)
			}
			h.Write(b)
		}
		if !encrypted || leaf == "" {
			return &node{kind: leafNode, leaf: leaf}, nil
		}
		s, err := encryptValue(leaf, key, strings.Join(sp, ":")+":")
		if err != nil {
			return nil, fmt.Errorf("the value of %s: %v", nameText(name), err)
		}
		return &node{kind: leafNode, leaf: s}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("encrypt: %v", err)
	}
	lastModified := now.UTC().Format(time.RFC3339)
	mac, err := encryptValue(fmt.Sprintf("%X", h.Sum(nil)), key, lastModified)
	if err != nil {
		return nil, err
	}
	meta, err := metadataNode(key, rs, recipients, lastModified, mac, r)
	if err != nil {
		return nil, err
	}
	switch format {
	case FormatYAML:
		return emitYAML(enc, meta)
	case FormatDotenv:
		return emitDotenv(enc, meta)
	}
	return emitJSON(enc, meta)
}

// metadataNode builds the "sops" entry: the data key encrypted for each
// recipient as an armored age file.
func metadataNode(key []byte, rs []age.Recipient, names []string, lastModified, mac string, r rules) (*node, error) {
	ages := &node{kind: listNode}
	for i, rec := range rs {
		var b bytes.Buffer
		aw := armor.NewWriter(&b)
		w, err := age.Encrypt(aw, rec)
		if err != nil {
			return nil, fmt.Errorf("encrypt: recipient %d: %v", i+1, err)
		}
		if _, err := w.Write(key); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		if err := aw.Close(); err != nil {
			return nil, err
		}
		entry := newMap()
		entry.add("recipient", leaf(strings.TrimSpace(names[i])))
		entry.add("enc", leaf(b.String()))
		ages.kids = append(ages.kids, entry)
	}
	m := newMap()
	m.add("age", ages)
	m.add("lastmodified", leaf(lastModified))
	m.add("mac", leaf(mac))
	switch {
	case r.encryptedSuffix != "":
		m.add("encrypted_suffix", leaf(r.encryptedSuffix))
	case r.unencryptedRegex != nil:
		m.add("unencrypted_regex", leaf(r.unencryptedRegex.String()))
	case r.encryptedRegex != nil:
		m.add("encrypted_regex", leaf(r.encryptedRegex.String()))
	default:
		m.add("unencrypted_suffix", leaf(r.unencryptedSuffix))
	}
	if r.macOnlyEncrypted {
		m.add("mac_only_encrypted", &node{kind: leafNode, leaf: true})
	}
	m.add("version", leaf(formatVersion))
	return m, nil
}

func leaf(s string) *node { return &node{kind: leafNode, leaf: s} }

// encryptValue encrypts one value as "ENC[AES256_GCM,...]" with a random
// 32-byte IV (sops: aes.Cipher.Encrypt).
func encryptValue(v any, key []byte, aad string) (string, error) {
	var typ string
	switch v.(type) {
	case string:
		typ = "str"
	case []byte:
		typ = "bytes"
	case int:
		typ = "int"
	case float64:
		typ = "float"
	case bool:
		typ = "bool"
	case time.Time:
		typ = "time"
	default:
		return "", fmt.Errorf("a value of type %T cannot be encrypted", v)
	}
	plain, err := macBytes(v)
	if err != nil {
		return "", err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, 32)
	if err != nil {
		return "", err
	}
	iv := make([]byte, 32)
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	out := gcm.Seal(nil, iv, plain, []byte(aad))
	tag := len(out) - gcm.Overhead()
	return fmt.Sprintf("ENC[AES256_GCM,data:%s,iv:%s,tag:%s,type:%s]",
		base64.StdEncoding.EncodeToString(out[:tag]), base64.StdEncoding.EncodeToString(iv),
		base64.StdEncoding.EncodeToString(out[tag:]), typ), nil
}
