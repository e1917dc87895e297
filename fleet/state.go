package fleet

import (
	"encoding/json"
	"fmt"
	"time"
)

// MarkerFormat is the format of .gitfleet/state.json this gitfleet writes.
// Format 0 is a marker without a format field (gitfleet before formats
// were numbered): the same fields, read the same way.
const MarkerFormat = 1

// Marker is .gitfleet/state.json: what gitfleet last did for an app on a
// server. The current link is the truth about what is active; the marker adds
// what the link cannot say: an activation under way (so a crash in the middle
// is noticed and the activation run again) and a failed one (so it is not
// retried in a loop at the same revision).
type Marker struct {
	// Format is the marker's format version (MarkerFormat when written).
	Format      int    `json:"format"`
	App         string `json:"app"`
	Environment string `json:"environment"`
	Release     string `json:"release,omitempty"` // last confirmed active release
	// Commit is the Git commit the release's tag pointed to (Git
	// artifacts only): a tag moved later is told by it.
	Commit      string    `json:"commit,omitempty"`
	Revision    string    `json:"revision,omitempty"`
	ActivatedAt time.Time `json:"activatedAt,omitzero"`
	Previous    string    `json:"previous,omitempty"`
	Pending     *Attempt  `json:"pending,omitempty"`
	Failed      *Attempt  `json:"failed,omitempty"`
}

// Attempt is one activation, under way or failed.
type Attempt struct {
	Release  string    `json:"release"`
	Previous string    `json:"previous,omitempty"`
	Revision string    `json:"revision"`
	At       time.Time `json:"at"`
	Error    string    `json:"error,omitempty"`
	// StopsRollout marks a failure that stopped a rolling or parallel
	// rollout (or an operator's rollback): the whole release is held at
	// this revision, not only this server.
	StopsRollout bool `json:"stopsRollout,omitempty"`
}

// NewerFormatError is a record written by a newer gitfleet, in a format
// this one does not know: it is not written over.
type NewerFormatError struct {
	What   string // "state.json"
	Format int
	Known  int
}

func (e *NewerFormatError) Error() string {
	return fmt.Sprintf("%s has format %d, newer than this gitfleet reads (up to %d): written by a newer gitfleet; upgrade gitfleet to manage it", e.What, e.Format, e.Known)
}

// DecodeMarker reads a state.json. A marker of a newer format than
// MarkerFormat is an error (*NewerFormatError): its meaning is not known
// here, and writing it over would lose what the newer gitfleet recorded.
func DecodeMarker(data []byte) (*Marker, error) {
	m := &Marker{}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("state.json: %w", err)
	}
	if m.Format > MarkerFormat {
		return nil, &NewerFormatError{What: "state.json", Format: m.Format, Known: MarkerFormat}
	}
	return m, nil
}

// EncodeMarker writes a marker in the current format.
func EncodeMarker(m *Marker) ([]byte, error) {
	cp := *m
	cp.Format = MarkerFormat
	b, err := json.MarshalIndent(&cp, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// AppState is what one app's deployTo holds on a server.
type AppState struct {
	// Current is the release current points to, "" when there is none.
	Current string `json:"current,omitempty"`
	// CurrentTarget is the raw link target when it is not a release of
	// releases/ (someone changed it by hand).
	CurrentTarget string `json:"currentTarget,omitempty"`
	// Staged lists the complete releases present, sorted.
	Staged []string `json:"staged,omitempty"`
	Marker *Marker  `json:"marker,omitempty"`
	// MarkerErr says why the marker could not be read.
	MarkerErr string `json:"markerError,omitempty"`
	// MarkerNewer is set when the marker was written by a newer gitfleet
	// in a format this one does not know: the app is not changed here.
	MarkerNewer bool `json:"markerNewer,omitempty"`
}

// SetMarker records the result of DecodeMarker.
func (s *AppState) SetMarker(m *Marker, err error) {
	s.Marker = m
	if err != nil {
		s.MarkerErr = err.Error()
		_, s.MarkerNewer = err.(*NewerFormatError)
	}
}

// IsStaged reports whether the release is on the server.
func (s *AppState) IsStaged(id string) bool {
	for _, st := range s.Staged {
		if st == id {
			return true
		}
	}
	return false
}

// ServerState is what a server holds, by app name. Err is set when the
// server could not be observed; Apps is then empty.
type ServerState struct {
	Server string               `json:"server"`
	Apps   map[string]*AppState `json:"apps,omitempty"`
	Err    error                `json:"-"`
}
