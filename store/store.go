// Package store keeps gitfleet's history: every rollout, environment change
// and database change, with its revision, author, servers, times, result
// and error, in an embedded bbolt database in the state directory. It is a
// record, never an input to planning; it survives restarts and is bounded
// by a retention setting.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Event is one thing gitfleet did.
type Event struct {
	// Format is the event's format version in the database (EventFormat
	// when written, 0 before formats were numbered: the same fields).
	// An event of a newer format is read as far as its fields are known.
	Format      int       `json:"format,omitempty"`
	ID          uint64    `json:"id"`
	Kind        string    `json:"kind"` // rollout, environment, database, rollback, retry
	Environment string    `json:"environment"`
	App         string    `json:"app,omitempty"`
	Revision    string    `json:"revision"`
	Author      string    `json:"author,omitempty"`
	What        string    `json:"what"` // the release, the config, the database changes
	Strategy    string    `json:"strategy,omitempty"`
	Servers     []string  `json:"servers,omitempty"`
	Failed      []string  `json:"failed,omitempty"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Result      string    `json:"result"`
	Error       string    `json:"error,omitempty"`
	// By names who asked for an operation (rollback, retry): the API
	// token's name, or "local" for a one-shot command.
	By string `json:"by,omitempty"`
}

// EventFormat is the format of the events this gitfleet writes.
const EventFormat = 1

// Retention bounds the history: the newest MaxEvents, none older than
// MaxAge. Zero values take the defaults.
type Retention struct {
	MaxEvents int
	MaxAge    time.Duration
}

// Defaults of the retention.
const (
	DefaultMaxEvents = 10000
	DefaultMaxAge    = 90 * 24 * time.Hour
)

// Store is the history database.
type Store struct {
	db  *bolt.DB
	ret Retention
}

var bucket = []byte("events")

// Open opens (creating) the history at path. A second daemon on the same
// file waits for the lock at most a second.
func Open(path string, ret Retention) (*Store, error) {
	if ret.MaxEvents <= 0 {
		ret.MaxEvents = DefaultMaxEvents
	}
	if ret.MaxAge <= 0 {
		ret.MaxAge = DefaultMaxAge
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db, ret: ret}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func key(id uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, id)
	return b
}

// Record adds an event (its ID is assigned) and applies the retention.
func (s *Store) Record(e Event) (uint64, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		e.ID, e.Format = id, EventFormat
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := b.Put(key(id), data); err != nil {
			return err
		}
		return s.trim(b, e.End)
	})
	return e.ID, err
}

// trim deletes the oldest events beyond the retention.
func (s *Store) trim(b *bolt.Bucket, now time.Time) error {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	excess := n - s.ret.MaxEvents
	cutoff := now.Add(-s.ret.MaxAge)
	var drop [][]byte
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if excess > 0 {
			drop = append(drop, append([]byte(nil), k...))
			excess--
			continue
		}
		var e Event
		if json.Unmarshal(v, &e) == nil && e.End.Before(cutoff) {
			drop = append(drop, append([]byte(nil), k...))
			continue
		}
		break
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Filter selects events: by environment and app when set, newest first,
// at most Limit (default 100).
type Filter struct {
	Environment, App string
	Limit            int
}

// List returns the events the filter selects, newest first.
func (s *Store) List(f Filter) ([]Event, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	out := []Event{}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Last(); k != nil && len(out) < f.Limit; k, v = c.Prev() {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return errors.New("history: an unreadable event")
			}
			if (f.Environment == "" || e.Environment == f.Environment) && (f.App == "" || e.App == f.App) {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}
