package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Format is the version of every value gitfleet writes in etcd. A reader
// refuses a record of a newer format than it knows, so two adjacent
// gitfleet versions can share a cluster as long as the newer one keeps
// writing the older format until every replica is upgraded.
const Format = 1

// maxName bounds an environment, replica or state name: it is part of a key.
const maxName = 200

// keys is the layout under the prefix:
//
//	<prefix>/replicas/<replica>              lease of the replica
//	<prefix>/owners/<env>                    lease of the owner; CreateRevision is the token
//	<prefix>/requests/<env>/<id>             requests for the owner
//	<prefix>/state/<kind>/<env>/<name>       holds, failures, suspensions, approvals
//	<prefix>/state/history/<env>/seq         the last history number
//	<prefix>/state/history/<env>/e/<number>  history entries, the newest N
type keys struct{ prefix string }

func (k keys) replicas() string             { return k.prefix + "/replicas/" }
func (k keys) replica(name string) string   { return k.replicas() + name }
func (k keys) owners() string               { return k.prefix + "/owners/" }
func (k keys) owner(env string) string      { return k.owners() + env }
func (k keys) requests() string             { return k.prefix + "/requests/" }
func (k keys) requestsOf(env string) string { return k.requests() + env + "/" }
func (k keys) state(kind, env string) string {
	return k.prefix + "/state/" + kind + "/" + env + "/"
}
func (k keys) historySeq(env string) string { return k.prefix + "/state/history/" + env + "/seq" }
func (k keys) historyEntries(env string) string {
	return k.prefix + "/state/history/" + env + "/e/"
}
func (k keys) historyEntry(env string, n int64) string {
	return fmt.Sprintf("%s%020d", k.historyEntries(env), n)
}

// checkName refuses a name that cannot be one segment of a key.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case len(name) > maxName:
		return fmt.Errorf("name longer than %d bytes", maxName)
	case name == "." || name == "..":
		return fmt.Errorf("name %q is not allowed", name)
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("name %q has a /", clip(name))
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("name %q has a control character", clip(name))
		}
	}
	return nil
}

// clip bounds what an error message quotes.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Record is the envelope of every value gitfleet writes in etcd.
type Record struct {
	Format  int             `json:"format"`
	Replica string          `json:"replica,omitempty"` // who wrote it
	Time    time.Time       `json:"time"`
	Kind    string          `json:"kind,omitempty"` // requests: what is asked
	Data    json.RawMessage `json:"data,omitempty"`
}

// ErrNewerFormat is returned for a record a newer gitfleet wrote.
var ErrNewerFormat = errors.New("written by a newer gitfleet")

func encode(r Record, v any) ([]byte, error) {
	r.Format = Format
	if v != nil {
		data, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		r.Data = data
	}
	return json.Marshal(r)
}

func decode(key string, value []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(value, &r); err != nil {
		return r, fmt.Errorf("%s: unreadable record: %w", key, err)
	}
	if r.Format > Format {
		return r, fmt.Errorf("%s: format %d > %d: %w", key, r.Format, Format, ErrNewerFormat)
	}
	if r.Format < 1 {
		return r, fmt.Errorf("%s: record without a format", key)
	}
	return r, nil
}
