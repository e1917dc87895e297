package reconcile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Failure is the last failed step of one server for one app.
type Failure struct {
	Environment string    `json:"environment"`
	App         string    `json:"app"`
	Server      string    `json:"server"`
	Release     string    `json:"release"`
	Step        Step      `json:"step"`
	Err         string    `json:"error"`
	At          time.Time `json:"at"`
}

func (f *Failure) key() string { return f.Environment + "/" + f.App + "/" + f.Server }

// Failures remembers the last failed step of every server, in a file of
// the state directory, so that a plan (the daemon's and `gitfleet plan`'s)
// can say why a server is still out of sync: a disk that filled up while a
// release was staged leaves nothing on the server to observe. It is a note
// beside the plan, never an input to it: the next pass tries again all
// the same.
type Failures struct {
	path string
	mu   sync.Mutex
	m    map[string]*Failure
}

// OpenFailures reads the failures kept at path; a missing file is none. A
// file that cannot be read is reported and replaced at the next write.
func OpenFailures(path string) (*Failures, error) {
	f := &Failures{path: path, m: map[string]*Failure{}}
	list, err := readFailures(path)
	for _, x := range list {
		f.m[x.key()] = x
	}
	return f, err
}

func readFailures(path string) ([]*Failure, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var list []*Failure
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return list, nil
}

// Record notes how a rollout went: a failed server step is kept, a server
// that reached the release is cleared.
func (f *Failures) Record(r *Result, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	changed := false
	for _, s := range r.Servers {
		x := &Failure{Environment: r.Change.Environment, App: r.Change.App, Server: s.Server}
		switch {
		case s.Err != "":
			x.Release, x.Step, x.Err, x.At = r.Change.To, s.Step, s.Err, at
			f.m[x.key()] = x
			changed = true
		case s.Done:
			if _, ok := f.m[x.key()]; ok {
				delete(f.m, x.key())
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	return f.save()
}

// Forget drops what the plan shows to be over: servers in sync, servers
// and apps no longer in the desired state, failures of another release
// than the one now desired.
func (f *Failures) Forget(p *Plan) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	keep := map[string]bool{}
	for _, st := range p.Status {
		for _, s := range st.Servers {
			k := st.Environment + "/" + st.App + "/" + s.Server
			if x := f.m[k]; x != nil && s.State != InSync && x.Release == st.Release {
				keep[k] = true
			}
		}
	}
	changed := false
	for k := range f.m {
		if !keep[k] {
			delete(f.m, k)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return f.save()
}

// Annotate attaches to every server step of the plan the last failure of
// that server with that release.
func (f *Failures) Annotate(p *Plan) {
	f.mu.Lock()
	defer f.mu.Unlock()
	annotate(p, f.m)
}

// AnnotateFromFile is Annotate for a reader of the daemon's state
// directory, such as `gitfleet plan`: nothing is written.
func AnnotateFromFile(p *Plan, path string) error {
	list, err := readFailures(path)
	m := make(map[string]*Failure, len(list))
	for _, x := range list {
		m[x.key()] = x
	}
	annotate(p, m)
	return err
}

func annotate(p *Plan, m map[string]*Failure) {
	for _, c := range p.Changes {
		for _, s := range c.Servers {
			if x := m[c.Environment+"/"+c.App+"/"+s.Server]; x != nil && x.Release == c.To {
				cp := *x
				s.LastFailure = &cp
			}
		}
	}
}

// save writes the file atomically: a temporary file renamed over it.
func (f *Failures) save() error {
	list := make([]*Failure, 0, len(f.m))
	for _, x := range f.m {
		list = append(list, x)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].key() < list[j].key() })
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".tmp-failures-")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
