package rollout

import (
	"time"

	"github.com/gitfleet/gitfleet/plan"
)

// ServerResult is how one server of a change fared.
type ServerResult struct {
	Server string `json:"server"`
	// Step is the last step attempted; with Err, the one that failed.
	Step plan.Step `json:"step,omitempty"`
	Err  string    `json:"error,omitempty"`
	// Staged is true when this rollout staged the release on the server.
	Staged bool `json:"staged,omitempty"`
	// Done is true when the server is on the new release.
	Done bool `json:"done"`
}

// Result is the outcome of one change.
type Result struct {
	Change   *plan.Change   `json:"change"`
	Servers  []ServerResult `json:"servers"`
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
	// Stopped is set when a shutdown kept some servers from being started.
	Stopped bool `json:"stopped,omitempty"`
	// Waiting is set when the change was outside its window: the release
	// was staged, not activated.
	Waiting bool `json:"waiting,omitempty"`
}

// Failed is the number of servers whose step failed.
func (r *Result) Failed() int {
	n := 0
	for _, s := range r.Servers {
		if s.Err != "" {
			n++
		}
	}
	return n
}

// Outcome is "success" when every server is on the new release, "stopped"
// when a shutdown cut the rollout short without failures, "staged" when
// the change waited for its window, "failure" else.
func (r *Result) Outcome() string {
	switch {
	case r.Failed() > 0:
		return "failure"
	case r.Stopped:
		return "stopped"
	case r.Waiting:
		return "staged"
	}
	return "success"
}

// Done counts the servers that reached the change's release.
func (r *Result) Done() int {
	n := 0
	for _, s := range r.Servers {
		if s.Done {
			n++
		}
	}
	return n
}
