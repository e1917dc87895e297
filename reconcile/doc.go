// Package reconcile is the controller: it keeps the last good desired
// state and runs passes on start, on every new desired state, every resync
// interval and when a window opens.
//
// A pass is a list of steps of one signature: observe the fleet, check the
// content of active releases, plan (package plan, pure), execute the plan
// (package rollout), and refresh the standing. What a pass found (plan,
// status, drift, failures, the pass's metrics) is published by one
// function, in a defer, whatever happened; a pass that carries out changes
// also shows its plan, through the same function, as it starts them, so
// that a rollout under way is seen against the desired state it carries
// out. A plan is annotated before it is shown and never changed after.
// Each rollout records its history, metrics and notifications in a defer
// of its own.
// Each environment is executed on its own, and a panic in one becomes an
// error of that environment.
//
// A pass is level-triggered: it starts from the desired state at a
// revision, what the fleet holds right now (the servers' markers and the
// environment lane's records included), and the time. `gitfleet plan`
// runs the same steps up to the plan (Preview). Commands that change the
// fleet (a rollback, a retry) are operations of the controller, serialized
// with the passes (Do).
package reconcile
