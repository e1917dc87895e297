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

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/rollout"
)

// FailuresFormat is the format of the failures file this gitfleet writes:
// {"format": 1, "failures": [...]}. Format 0 is a bare list of failures.
const FailuresFormat = 1

// Failures remembers the last failed step of every server, in a file of
// the state directory, so that a plan (the daemon's and `gitfleet plan`'s)
// can say why a server is still out of sync: a disk that filled up while a
// release was staged leaves nothing on the server to observe. It is a note
// beside the plan, never an input to it: the next pass tries again all
// the same.
type Failures struct {
	path string // "": kept in memory only
	mu   sync.Mutex
	m    map[string]*plan.Failure
}

// failuresFile is the file's content.
type failuresFile struct {
	Format   int             `json:"format"`
	Failures []*plan.Failure `json:"failures"`
}

// OpenFailures reads the failures kept at path; a missing file is none,
// and "" keeps them in memory only. A file that cannot be read is reported
// and replaced at the next write.
func OpenFailures(path string) (*Failures, error) {
	f := &Failures{path: path, m: map[string]*plan.Failure{}}
	if path == "" {
		return f, nil
	}
	list, err := readFailures(path)
	for _, x := range list {
		f.m[x.Key()] = x
	}
	return f, err
}

func readFailures(path string) ([]*plan.Failure, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var list []*plan.Failure
	if len(b) > 0 && b[0] == '[' {
		err = json.Unmarshal(b, &list) // format 0
	} else {
		var ff failuresFile
		err = json.Unmarshal(b, &ff)
		if err == nil && ff.Format > FailuresFormat {
			err = &fleet.NewerFormatError{What: "the record of failed steps", Format: ff.Format, Known: FailuresFormat}
		}
		list = ff.Failures
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return list, nil
}

// Snapshot is a copy of the failures kept, by plan.FailureKey.
func (f *Failures) Snapshot() map[string]*plan.Failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]*plan.Failure, len(f.m))
	for k, v := range f.m {
		cp := *v
		out[k] = &cp
	}
	return out
}

// Record notes how a rollout went: a failed server step is kept, a server
// that reached the release is cleared.
func (f *Failures) Record(r *rollout.Result, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	changed := false
	for _, s := range r.Servers {
		x := &plan.Failure{Environment: r.Change.Environment, App: r.Change.App, Server: s.Server}
		switch {
		case s.Err != "":
			x.Release, x.Step, x.Err, x.At = r.Change.To, s.Step, s.Err, at
			f.m[x.Key()] = x
			changed = true
		case s.Done:
			if _, ok := f.m[x.Key()]; ok {
				delete(f.m, x.Key())
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
// than the one now desired. It only reads the plan.
func (f *Failures) Forget(p *plan.Plan) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	keep := map[string]bool{}
	for _, st := range p.Status {
		for _, s := range st.Servers {
			k := plan.FailureKey(st.Environment, st.App, s.Server)
			if x := f.m[k]; x != nil && s.State != plan.InSync && x.Release == st.Release {
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

// save writes the file atomically: a temporary file renamed over it.
func (f *Failures) save() error {
	if f.path == "" {
		return nil
	}
	list := make([]*plan.Failure, 0, len(f.m))
	for _, x := range f.m {
		list = append(list, x)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Key() < list[j].Key() })
	b, err := json.MarshalIndent(failuresFile{Format: FailuresFormat, Failures: list}, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(f.path, append(b, '\n'))
}

// writeAtomic replaces file with data: a temporary file beside it, renamed
// over it.
func writeAtomic(file string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".tmp-"+filepath.Base(file)+"-")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
