package plan

import "time"

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

// Key names the failure's server and app.
func (f *Failure) Key() string { return FailureKey(f.Environment, f.App, f.Server) }

// FailureKey names a server of an app of an environment.
func FailureKey(env, app, server string) string { return env + "/" + app + "/" + server }

// Annotate attaches to every server step of the plan the last failure of
// that server with that release, from failures by FailureKey. It is done
// before a plan is published: a published plan is never changed.
func Annotate(p *Plan, failures map[string]*Failure) {
	for _, c := range p.Changes {
		for _, s := range c.Servers {
			if x := failures[FailureKey(c.Environment, c.App, s.Server)]; x != nil && x.Release == c.To {
				cp := *x
				s.LastFailure = &cp
			}
		}
	}
}
