package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/getsops/sops/v3/shamir"
)

// dataKeySize is the size of a SOPS data key (AES-256).
const dataKeySize = 32

// dataKey decrypts the data key of a SOPS file with the keys: from one
// key group, or from threshold groups when it is split (Shamir).
func (k *Keys) dataKey(path string, md *metadata) ([]byte, error) {
	var parts [][]byte
	damaged := ""
	for _, g := range md.groups {
		part, bad := k.openGroup(g)
		if part != nil {
			parts = append(parts, part)
		} else if bad != "" {
			damaged = bad
		}
	}
	need := 1
	if len(md.groups) > 1 {
		need = md.threshold
		if need <= 0 {
			need = len(md.groups)
		}
	}
	if len(parts) < need {
		e := &Error{File: path, Kind: ErrWrongKey, Recipients: md.recipients(), Tried: k.tried(),
			Reason: fmt.Sprintf("none of the %d age keys given decrypts it", len(k.ids))}
		switch {
		case damaged != "":
			e.Kind, e.Tried = ErrMalformed, nil
			e.Reason = "the data key encrypted for " + PublicKeyText(damaged) + " is damaged"
		case len(md.groups) > 1:
			e.Reason = fmt.Sprintf("its data key is split in %d key groups, %d of which are needed; the keys given open %d", len(md.groups), need, len(parts))
		}
		return nil, e
	}
	key := parts[0]
	if len(md.groups) > 1 {
		var err error
		if key, err = shamir.Combine(parts); err != nil {
			return nil, &Error{File: path, Kind: ErrIntegrity, Recipients: md.recipients(), Reason: "the shares of its data key do not combine"}
		}
	}
	if len(key) != dataKeySize {
		return nil, &Error{File: path, Kind: ErrIntegrity, Recipients: md.recipients(), Reason: "its data key has the wrong size"}
	}
	return key, nil
}

// openGroup returns the data key (or share) of a key group, or the
// recipient of one of the keys' own entries that is damaged.
func (k *Keys) openGroup(g []ageKey) (part []byte, damaged string) {
	for _, a := range g {
		r, err := age.Decrypt(armor.NewReader(strings.NewReader(a.enc)), k.ids...)
		if err == nil {
			var b []byte
			if b, err = io.ReadAll(io.LimitReader(r, 1024)); err == nil {
				return b, ""
			}
		}
		var none *age.NoIdentityMatchError
		if !errors.As(err, &none) && k.owns(a.recipient) {
			damaged = a.recipient
		}
	}
	return nil, damaged
}

// owns reports whether one of the keys is recipient.
func (k *Keys) owns(recipient string) bool {
	for _, p := range k.pubs {
		if p != "" && p == recipient {
			return true
		}
	}
	return false
}

// encRE is an encrypted value (sops: aes.encre).
var encRE = regexp.MustCompile(`^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`)

// errValueAuth is a value that does not authenticate with the key and
// its path.
var errValueAuth = errors.New("does not authenticate")

// decryptValue decrypts one "ENC[AES256_GCM,...]" value, authenticated
// with aad (its path, or the time for the MAC), into its type. A value of
// type comment is returned as commentValue.
func decryptValue(s string, key []byte, aad string) (any, error) {
	m := encRE.FindStringSubmatch(s)
	if m == nil {
		return nil, errors.New("is not an encrypted value (ENC[AES256_GCM,...])")
	}
	var raw [3][]byte
	for i := range raw {
		b, err := base64.StdEncoding.DecodeString(m[i+1])
		if err != nil {
			return nil, errors.New("is an encrypted value with broken base64")
		}
		raw[i] = b
	}
	data, iv, tag := raw[0], raw[1], raw[2]
	if len(iv) < 12 || len(tag) != 16 {
		return nil, errors.New("is an encrypted value with a bad IV or tag size")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, iv, append(data, tag...), []byte(aad))
	if err != nil {
		return nil, errValueAuth
	}
	return typedValue(plain, m[4])
}

// commentValue is a value SOPS marked as a comment: not a value.
type commentValue struct{}

func typedValue(plain []byte, typ string) (any, error) {
	s := string(plain)
	var v any
	var err error
	switch typ {
	case "str":
		v = s
	case "bytes":
		v = plain
	case "int":
		v, err = strconv.Atoi(s)
	case "float":
		v, err = strconv.ParseFloat(s, 64)
	case "bool":
		v, err = strconv.ParseBool(s)
	case "time":
		var t time.Time
		err = t.UnmarshalText(plain)
		v = t
	case "comment":
		v = commentValue{}
	default:
		return nil, fmt.Errorf("has an unknown type %s", nameText(typ))
	}
	if err != nil {
		return nil, fmt.Errorf("does not hold a %s", typ)
	}
	return v, nil
}

// decrypt returns the decrypted content and checks it against the MAC.
func (sf *sopsFile) decrypt(path string, key []byte) (*node, error) {
	md := sf.meta
	h := sha512.New()
	if md.rules.macOnlyEncrypted {
		h.Write(macOnlyInit)
	}
	bad := func(kind error, format string, args ...any) error {
		return &Error{File: path, Kind: kind, Recipients: md.recipients(), Reason: fmt.Sprintf(format, args...)}
	}
	out, err := walk(sf.doc, nil, "", 0, func(leaf any, sp []string, name string, _ int) (*node, error) {
		enc := md.rules.encrypted(sp)
		v := leaf
		if enc {
			s, ok := leaf.(string)
			if !ok || (s != "" && !strings.HasPrefix(s, "ENC[")) {
				return nil, bad(ErrIntegrity, "the value of %s is in clear, but the file's rules say it is encrypted: it was added or changed without the key", nameText(name))
			}
			if s != "" {
				var err error
				if v, err = decryptValue(s, key, strings.Join(sp, ":")+":"); err != nil {
					if errors.Is(err, errValueAuth) {
						return nil, bad(ErrIntegrity, "the value of %s does not authenticate: it was changed without the key, or moved", nameText(name))
					}
					return nil, bad(ErrMalformed, "the value of %s %v", nameText(name), err)
				}
			}
			if _, ok := v.(commentValue); ok {
				return nil, nil
			}
		}
		if !md.rules.macOnlyEncrypted || enc {
			b, err := macBytes(v)
			if err != nil {
				return nil, bad(ErrMalformed, "the value of %s is %v", nameText(name), err)
			}
			h.Write(b)
		}
		return &node{kind: leafNode, leaf: v}, nil
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, bad(ErrMalformed, "%v", err)
	}
	stored, err := decryptValue(md.mac, key, md.lastModified.Format(time.RFC3339))
	switch {
	case errors.Is(err, errValueAuth):
		return nil, bad(ErrIntegrity, "its MAC does not authenticate: the MAC or sops.lastmodified was changed without the key")
	case err != nil:
		return nil, bad(ErrMalformed, "sops.mac %v", err)
	}
	want, _ := stored.(string)
	got := fmt.Sprintf("%X", h.Sum(nil))
	if subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return nil, bad(ErrIntegrity, "its MAC does not match its values: a value was changed, added or removed without the key")
	}
	return out, nil
}
