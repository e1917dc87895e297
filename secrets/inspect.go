package secrets

import (
	"fmt"
	"strings"
	"time"
)

// Info is what an encrypted file says about itself without keys: its
// recipients and, for a structured SOPS file (whose keys are in clear),
// the names of its values. It holds no plaintext.
type Info struct {
	Path   string
	Format Format
	// Recipients are the age public keys of a SOPS file, in file order.
	Recipients []string
	// OtherKeys are the other key services a SOPS file is also encrypted
	// for ("kms", "pgp", ...), which gitfleet does not use.
	OtherKeys []string
	// Stanzas are the recipient types of an age file's header
	// ("X25519", "mlkem768x25519", "ssh-ed25519"): an age file does not
	// record its recipients.
	Stanzas []string
	// LastModified is when a SOPS file was last encrypted.
	LastModified time.Time
	// Names are the names of a structured file's values (see File.Names).
	Names []string

	shape *node // structured files: the content, values encrypted
}

// Inspect checks, without keys, that a file is a well-formed SOPS file of
// its format (FormatAuto: by its name), with sops metadata holding a MAC,
// a time and at least one age recipient whose encrypted data key is a
// well-formed age file, and with every value its rules encrypt
// encrypted; or that it is a well-formed age file. Errors are *Error.
func Inspect(path string, data []byte, format Format) (*Info, error) {
	format = format.resolve(path)
	if len(data) > MaxFileBytes {
		return nil, fail(path, ErrMalformed, "is %d bytes, more than %d", len(data), MaxFileBytes)
	}
	info := &Info{Path: path, Format: format}
	if format == FormatAge {
		var err error
		if info.Stanzas, err = ageStanzas(path, data); err != nil {
			return nil, err
		}
		return info, nil
	}
	sf, err := parseSOPS(path, data, format)
	if err != nil {
		return nil, err
	}
	md := sf.meta
	info.Recipients, info.OtherKeys, info.LastModified = md.recipients(), md.other, md.lastModified
	bad := func(format string, args ...any) error {
		return &Error{File: path, Kind: ErrMalformed, Recipients: md.recipients(), Reason: fmt.Sprintf(format, args...)}
	}
	for _, g := range md.groups {
		for _, k := range g {
			if _, err := ageStanzas(path, []byte(k.enc)); err != nil || !strings.HasPrefix(strings.TrimSpace(k.enc), armorBegin) {
				return nil, bad("the data key encrypted for %s is not a well-formed armored age file", PublicKeyText(k.recipient))
			}
		}
	}
	if !encRE.MatchString(md.mac) {
		return nil, bad("sops.mac is not an encrypted value")
	}
	if format == FormatBinary {
		return info, nil
	}
	_, err = walk(sf.doc, nil, "", 0, func(leaf any, sp []string, name string, _ int) (*node, error) {
		info.Names = append(info.Names, name)
		if !md.rules.encrypted(sp) {
			return nil, nil
		}
		if s, ok := leaf.(string); !ok || (s != "" && !encRE.MatchString(s)) {
			return nil, &Error{File: path, Kind: ErrIntegrity, Recipients: md.recipients(),
				Reason: fmt.Sprintf("the value of %s is in clear, but the file's rules say it is encrypted: it was added or changed without the key", nameText(name))}
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	if err := checkNames(info.Names); err != nil {
		return nil, &Error{File: path, Kind: ErrUnsupported, Recipients: md.recipients(), Reason: err.Error()}
	}
	info.shape = sf.doc
	return info, nil
}

// TemplateData returns the shape of the file's TemplateData with every
// value "(secret)", to check templates against the names that exist
// without keys.
func (i *Info) TemplateData() any {
	if i.shape == nil {
		return Redacted
	}
	placeholders, _ := walk(i.shape, nil, "", 0, func(any, []string, string, int) (*node, error) {
		return leaf(Redacted), nil
	})
	return plainData(placeholders)
}
