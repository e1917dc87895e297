// Package reconcile turns desired state and an observed fleet into a plan and
// carries the plan out.
//
// A pass is level-triggered: it starts from the desired state at a revision,
// what the fleet holds right now, and the time, and nothing else. Planning is
// a pure function of those three (MakePlan), so it is tested with tables and
// `gitfleet plan` prints exactly what a pass would do. Effects (staging,
// activation) go through the Executor interface this package owns.
package reconcile
