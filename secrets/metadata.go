package secrets

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// metadata is the "sops" entry of a SOPS file, as far as age needs it.
type metadata struct {
	// groups are the key groups: one unless the data key is split with
	// Shamir's scheme, when threshold of them are needed.
	groups    [][]ageKey
	threshold int
	// other names the key services gitfleet does not use ("kms", "pgp",
	// ...) that the file is also encrypted for.
	other        []string
	lastModified time.Time
	mac          string
	rules        rules
	version      string
}

// ageKey is the data key (or a Shamir share of it) encrypted for one age
// recipient, as an armored age file.
type ageKey struct{ recipient, enc string }

// rules say which values of a file are encrypted (at most one is set; by
// default keys ending in _unencrypted are not).
type rules struct {
	unencryptedSuffix, encryptedSuffix string
	unencryptedRegex, encryptedRegex   *regexp.Regexp
	// macOnlyEncrypted leaves values in clear out of the MAC.
	macOnlyEncrypted bool
}

// defaultUnencryptedSuffix is SOPS's default rule.
const defaultUnencryptedSuffix = "_unencrypted"

// macOnlyInit starts the MAC of files with mac_only_encrypted, so that it
// differs from the MAC of the same values without (sops:
// MACOnlyEncryptedInitialization, the SHA-256 of "sops").
var macOnlyInit = []byte{0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0xb, 0xb, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69}

// encrypted reports whether the value at a SOPS path is encrypted (sops:
// shouldBeEncrypted, without the comment rules, which are refused).
func (r rules) encrypted(path []string) bool {
	some := func(match func(string) bool) bool {
		for _, p := range path {
			if match(p) {
				return true
			}
		}
		return false
	}
	switch {
	case r.unencryptedSuffix != "":
		return !some(func(p string) bool { return strings.HasSuffix(p, r.unencryptedSuffix) })
	case r.encryptedSuffix != "":
		return some(func(p string) bool { return strings.HasSuffix(p, r.encryptedSuffix) })
	case r.unencryptedRegex != nil:
		return !some(r.unencryptedRegex.MatchString)
	case r.encryptedRegex != nil:
		return some(r.encryptedRegex.MatchString)
	}
	return true
}

// The key services of SOPS other than age, by their metadata key.
var otherServices = []string{"kms", "gcp_kms", "azure_kv", "hc_vault", "hckms", "pgp"}

// parseMetadata reads the "sops" entry (sops: stores.ExtractMetadata and
// metadata.ToInternal, with weakly typed scalars as mapstructure has).
func parseMetadata(m map[string]any) (*metadata, error) {
	md := &metadata{}
	if groups, ok := m["key_groups"].([]any); ok && len(groups) > 0 {
		for i, g := range groups {
			gm, ok := g.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("sops.key_groups[%d] is not a mapping", i)
			}
			keys, err := md.group(gm, fmt.Sprintf("sops.key_groups[%d]", i))
			if err != nil {
				return nil, err
			}
			md.groups = append(md.groups, keys)
		}
	} else {
		keys, err := md.group(m, "sops")
		if err != nil {
			return nil, err
		}
		md.groups = [][]ageKey{keys}
	}
	sort.Strings(md.other)
	var err error
	if md.threshold, err = weakInt(m["shamir_threshold"]); err != nil {
		return nil, fmt.Errorf("sops.shamir_threshold: %v", err)
	}
	md.mac = weakString(m["mac"])
	md.version = weakString(m["version"])
	lm := weakString(m["lastmodified"])
	if t, ok := m["lastmodified"].(time.Time); ok {
		lm = t.Format(time.RFC3339)
	}
	switch {
	case lm == "":
		return nil, fmt.Errorf("sops.lastmodified is missing")
	case md.mac == "":
		return nil, fmt.Errorf("sops.mac is missing")
	}
	if md.lastModified, err = time.Parse(time.RFC3339, lm); err != nil {
		return nil, fmt.Errorf("sops.lastmodified is not an RFC 3339 time")
	}
	if md.rules, err = parseRules(m); err != nil {
		return nil, err
	}
	return md, nil
}

// group reads the age keys of a key group, and notes the other services.
func (md *metadata) group(m map[string]any, where string) ([]ageKey, error) {
	for _, s := range otherServices {
		if l, ok := m[s].([]any); ok && len(l) > 0 {
			md.other = append(md.other, s)
		}
	}
	list, _ := m["age"].([]any)
	var keys []ageKey
	for i, e := range list {
		em, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s.age[%d] is not a mapping", where, i)
		}
		k := ageKey{recipient: weakString(em["recipient"]), enc: weakString(em["enc"])}
		if k.enc == "" {
			return nil, fmt.Errorf("%s.age[%d] has no enc (the encrypted data key)", where, i)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func parseRules(m map[string]any) (rules, error) {
	var r rules
	var err error
	set := 0
	str := func(k string) string {
		v := weakString(m[k])
		if v != "" {
			set++
		}
		return v
	}
	r.unencryptedSuffix = str("unencrypted_suffix")
	r.encryptedSuffix = str("encrypted_suffix")
	ur, er := str("unencrypted_regex"), str("encrypted_regex")
	if str("unencrypted_comment_regex") != "" || str("encrypted_comment_regex") != "" {
		return r, errUnsupportedComments
	}
	if set > 1 {
		return r, fmt.Errorf("it sets more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex and unencrypted_regex")
	}
	if set == 0 {
		r.unencryptedSuffix = defaultUnencryptedSuffix
	}
	if ur != "" {
		if r.unencryptedRegex, err = regexp.Compile(ur); err != nil {
			return r, fmt.Errorf("sops.unencrypted_regex is not a regular expression")
		}
	}
	if er != "" {
		if r.encryptedRegex, err = regexp.Compile(er); err != nil {
			return r, fmt.Errorf("sops.encrypted_regex is not a regular expression")
		}
	}
	if r.macOnlyEncrypted, err = weakBool(m["mac_only_encrypted"]); err != nil {
		return r, fmt.Errorf("sops.mac_only_encrypted: %v", err)
	}
	return r, nil
}

var errUnsupportedComments = fmt.Errorf("the file chooses encrypted values by comments (encrypted_comment_regex or unencrypted_comment_regex), which gitfleet does not read; encrypt it with a key rule instead (unencrypted_suffix, encrypted_regex, ...)")

// recipients lists the age recipients of every group, in file order.
func (md *metadata) recipients() []string {
	var out []string
	for _, g := range md.groups {
		for _, k := range g {
			out = append(out, k.recipient)
		}
	}
	return out
}

func (md *metadata) ageKeys() int { return len(md.recipients()) }

func weakString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func weakInt(v any) (int, error) {
	switch v := v.(type) {
	case nil:
		return 0, nil
	case int:
		return v, nil
	case string:
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("not a number")
		}
		return n, nil
	}
	return 0, fmt.Errorf("not a number")
}

func weakBool(v any) (bool, error) {
	switch v := v.(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	case string:
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("not a boolean")
		}
		return b, nil
	case int:
		return v != 0, nil
	}
	return false, fmt.Errorf("not a boolean")
}

// toGo converts a tree to maps, lists and leaves, for the metadata.
func toGo(n *node) any {
	switch n.kind {
	case mapNode:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k] = toGo(n.kids[i])
		}
		return m
	case listNode:
		l := make([]any, len(n.kids))
		for i, c := range n.kids {
			l[i] = toGo(c)
		}
		return l
	case leafNode:
		return n.leaf
	}
	return nil
}
