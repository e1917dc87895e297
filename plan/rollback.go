package plan

import (
	"fmt"
	"time"

	"github.com/gitfleet/gitfleet/spec"
)

// Rollback is the switch of a parallel release back to its idle group,
// which still holds the previous release: checked, and put in; then the
// live group out, with the release held on it at this revision.
type Rollback struct {
	// Change names the release and carries what the rollout needs of
	// the desired state (Servers, Strategy, Spec).
	Change *Change
	From   string   // the live group
	To     string   // the group that takes the traffic back
	Back   []string // its servers
	Live   []string // the servers of the live group
	Holds  string   // the release the group holds
	Reason string   // recorded on the live group's servers
}

// PlanRollback checks that the parallel release of app in env can be
// switched back and says how. It is pure: the same desired state and
// observation give the same answer, or the same refusal.
func PlanRollback(d *Desired, o *Observed, envName, appName string, now time.Time) (*Rollback, error) {
	key := spec.Key{Environment: envName, App: appName}
	var r *spec.Release
	for _, rr := range d.Spec.Releases {
		if rr.Key() == key {
			r = rr
		}
	}
	if r == nil {
		return nil, fmt.Errorf("no Release of app %q in environment %q", appName, envName)
	}
	if r.Strategy != spec.Parallel {
		return nil, fmt.Errorf("%s is released with strategy %s: rollback switches a parallel (blue/green) release back; for %s, pin the previous version in the desired state", key, r.Strategy, r.Strategy)
	}
	env, app := d.Spec.Environment(envName), d.Spec.App(appName)
	rel, ok := d.Releases[key]
	if !ok {
		return nil, fmt.Errorf("%s: release not resolved", key)
	}
	lbo := o.LB[envName]
	if lbo == nil {
		return nil, fmt.Errorf("%s: the load balancer was not observed", key)
	}
	if lbo.Err != nil {
		return nil, fmt.Errorf("%s: cannot read the load balancer: %v", key, lbo.Err)
	}
	g := Groups(spec.Targets(env, app))
	live := LiveGroup(lbo, g, func(string) bool { return false })
	if live == "" {
		return nil, fmt.Errorf("%s: no group takes traffic in the load balancer: nothing to switch back from", key)
	}
	back := OtherGroup(live)
	holds, err := groupRelease(d, o, key, back, g[back], app, rel.ID)
	if err != nil {
		return nil, err
	}
	rb := &Rollback{From: live, To: back, Holds: holds,
		Reason: fmt.Sprintf("rolled back to group %s (%s) with gitfleet rollback at %s", back, holds, now.UTC().Format(time.RFC3339))}
	for _, s := range g[back] {
		rb.Back = append(rb.Back, s.Name)
	}
	for _, s := range g[live] {
		rb.Live = append(rb.Live, s.Name)
	}
	rb.Change = &Change{Lane: LaneFiles, Environment: envName, App: appName, Strategy: r.Strategy, Version: rel.Version, To: rel.ID,
		Reason: fmt.Sprintf("switch %s → %s (%s)", live, back, holds)}
	resolveChange(d, rb.Change)
	return rb, nil
}

// groupRelease is the one whole release every server of a group is on, or
// why the group cannot take the traffic back.
func groupRelease(d *Desired, o *Observed, key spec.Key, group string, servers []*spec.Server, app *spec.App, desired string) (string, error) {
	holds := ""
	for _, s := range servers {
		st := o.Servers[s.Name]
		if st == nil {
			return "", fmt.Errorf("%s: server %s of group %s was not observed", key, s.Name, group)
		}
		if st.Err != nil {
			return "", fmt.Errorf("%s: server %s of group %s is unreachable: %v", key, s.Name, group, st.Err)
		}
		as := st.Apps[app.Name]
		switch {
		case as != nil && as.Current == desired && as.Marker != nil && as.Marker.Failed != nil &&
			as.Marker.Failed.Release == desired && as.Marker.Failed.Revision == d.Revision:
			return "", fmt.Errorf("%s: group %s holds %s, which failed or was rolled back at this revision: already rolled back; to go forward again, use gitfleet sync --retry %s %s", key, group, desired, key.Environment, key.App)
		case as == nil || as.Current == "":
			return "", fmt.Errorf("%s: server %s of group %s holds no release to switch back to", key, s.Name, group)
		case as.Marker != nil && as.Marker.Pending != nil:
			return "", fmt.Errorf("%s: server %s of group %s is in the middle of an activation", key, s.Name, group)
		case holds != "" && as.Current != holds:
			return "", fmt.Errorf("%s: group %s is not on one release (%s, %s)", key, group, holds, as.Current)
		}
		holds = as.Current
	}
	return holds, nil
}
