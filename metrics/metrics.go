// Package metrics holds gitfleet's Prometheus collectors. Everything is
// registered on the registry the daemon passes to New; nothing is global.
//
// Cardinality is bounded by the desired state: series are per environment
// and app, never per server, and the series of an environment or app that
// left the repository are deleted.
package metrics

import (
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is every collector of the daemon.
type Metrics struct {
	desiredRevision    *prometheus.GaugeVec
	desiredValid       prometheus.Gauge
	sourceErrors       *prometheus.CounterVec
	sourceLastSuccess  prometheus.Gauge
	reconcileDuration  prometheus.Histogram
	reconcileErrors    *prometheus.CounterVec
	reconcileLast      prometheus.Gauge
	servers            *prometheus.GaugeVec
	deployments        *prometheus.CounterVec
	serverSteps        *prometheus.CounterVec
	rolloutsInProgress prometheus.Gauge
	fetchDuration      prometheus.Histogram
	fetchErrors        *prometheus.CounterVec
	sourceRevision     *prometheus.GaugeVec
	forcePushes        prometheus.Counter
	tagMoves           prometheus.Counter
	artifactTagMoves   prometheus.Counter
	webhookRequests    *prometheus.CounterVec
	driftCollectors
	opsCollectors

	mu       sync.Mutex
	srcRev   [3]string              // labels of the source revision series
	revision [2]string              // labels of the desired revision series
	known    map[[2]string]struct{} // environment/app pairs with series
}

// Reasons for reconcile errors.
const (
	ReasonUnreachable = "unreachable" // a server could not be observed
	ReasonRollout     = "rollout"     // a server step failed
	ReasonPanic       = "panic"       // an internal error, recovered, in an environment or a step
)

// Reasons for source errors.
const (
	ReasonRead     = "read"     // the source could not be read
	ReasonInvalid  = "invalid"  // the desired state failed validation
	ReasonArtifact = "artifact" // an artifact could not be fetched (not a problem of the desired state)
)

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer, version string) *Metrics {
	m := &Metrics{
		desiredRevision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gitfleet_desired_revision_info",
			Help: "The revision of the desired state in force (value 1).",
		}, []string{"revision", "origin"}),
		desiredValid: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gitfleet_desired_state_valid",
			Help: "1 if the latest desired state read was valid, 0 if it was rejected as invalid and the last good state stays in force.",
		}),
		sourceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitfleet_source_errors_total",
			Help: "Reads of the source that failed (read), desired states rejected (invalid), and desired states whose artifacts could not be fetched (artifact).",
		}, []string{"reason"}),
		sourceLastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gitfleet_source_last_success_timestamp_seconds",
			Help: "When the source last yielded a valid desired state.",
		}),
		reconcileDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gitfleet_reconcile_duration_seconds",
			Help:    "Duration of reconcile passes: observe, plan and execute.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900},
		}),
		reconcileErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitfleet_reconcile_errors_total",
			Help: "Reconcile passes that met an error, by reason.",
		}, []string{"reason"}),
		reconcileLast: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gitfleet_reconcile_last_success_timestamp_seconds",
			Help: "When a reconcile pass last completed without error.",
		}),
		servers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gitfleet_servers",
			Help: "Servers by sync state against the desired release, per environment and app.",
		}, []string{"environment", "app", "state"}),
		deployments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitfleet_deployments_total",
			Help: "Rollouts of a release to an environment, by result (success, failure, stopped).",
		}, []string{"environment", "app", "result"}),
		serverSteps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitfleet_server_steps_total",
			Help: "Stage and activate steps on servers, by result.",
		}, []string{"environment", "app", "step", "result"}),
		rolloutsInProgress: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gitfleet_rollouts_in_progress",
			Help: "Rollouts being carried out now.",
		}),
		fetchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gitfleet_source_fetch_duration_seconds",
			Help:    "Duration of polls of the Git source: reference list, fetch when needed, verification and tree read.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60},
		}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitfleet_source_fetch_errors_total",
			Help: "Failed polls of the Git source, by reason (timeout, auth, not_found, network, verify, non_fast_forward, tree, other).",
		}, []string{"reason"}),
		sourceRevision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gitfleet_source_revision_info",
			Help: "The commit the Git source last resolved its reference to (value 1).",
		}, []string{"source", "ref", "commit"}),
		forcePushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gitfleet_source_force_pushes_total",
			Help: "Times the followed branch moved to a commit not descending from the last one (rewritten history).",
		}),
		tagMoves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gitfleet_source_tag_moved_total",
			Help: "Times the followed tag (tag or semver source) named another commit than when last taken, and the move was followed.",
		}),
		artifactTagMoves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gitfleet_artifact_tag_moved_total",
			Help: "Moves of a Git-tag app artifact found after the release was activated; the release stays pinned to the commit of its first activation.",
		}),
		webhookRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitfleet_webhook_requests_total",
			Help: "Webhook requests by provider and result (triggered, ignored, unauthorized, too_large, bad_request, busy).",
		}, []string{"provider", "result"}),
		known: map[[2]string]struct{}{},
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gitfleet_build_info",
		Help: "Build information of the running daemon (value 1).",
	}, []string{"version", "goversion"})
	info.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(info, m.desiredRevision, m.desiredValid, m.sourceErrors, m.sourceLastSuccess,
		m.reconcileDuration, m.reconcileErrors, m.reconcileLast, m.servers, m.deployments,
		m.serverSteps, m.rolloutsInProgress, m.fetchDuration, m.fetchErrors, m.sourceRevision,
		m.forcePushes, m.tagMoves, m.artifactTagMoves, m.webhookRequests)
	m.driftCollectors = newDriftCollectors(reg)
	m.opsCollectors = newOpsCollectors(reg)
	for _, r := range []string{ReasonRead, ReasonInvalid, ReasonArtifact} {
		m.sourceErrors.WithLabelValues(r)
	}
	for _, r := range []string{ReasonUnreachable, ReasonRollout, ReasonPanic} {
		m.reconcileErrors.WithLabelValues(r)
	}
	return m
}

// DesiredAccepted records a valid desired state now in force.
func (m *Metrics) DesiredAccepted(revision, origin string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revision != [2]string{revision, origin} {
		m.desiredRevision.DeleteLabelValues(m.revision[0], m.revision[1])
		m.revision = [2]string{revision, origin}
	}
	m.desiredRevision.WithLabelValues(revision, origin).Set(1)
	m.desiredValid.Set(1)
	m.sourceLastSuccess.Set(float64(now.Unix()))
}

// SourceFailed records a source read that failed or was rejected. Only a
// desired state that is invalid (ReasonInvalid) sets
// gitfleet_desired_state_valid to 0: a source or an artifact remote that
// cannot be reached says nothing of the desired state.
func (m *Metrics) SourceFailed(reason string) {
	m.sourceErrors.WithLabelValues(reason).Inc()
	if reason == ReasonInvalid {
		m.desiredValid.Set(0)
	}
}

// DesiredRefused records that the source refused its newest content (a bad
// signature, a rewritten history, a moved tag refused): like an invalid
// desired state, it sets gitfleet_desired_state_valid to 0.
func (m *Metrics) DesiredRefused() { m.desiredValid.Set(0) }

// ReconcileDone records a pass and the reasons of its errors, if any.
func (m *Metrics) ReconcileDone(d time.Duration, now time.Time, errReasons ...string) {
	m.reconcileDuration.Observe(d.Seconds())
	for _, r := range errReasons {
		m.reconcileErrors.WithLabelValues(r).Inc()
	}
	if len(errReasons) == 0 {
		m.reconcileLast.Set(float64(now.Unix()))
	}
}

// AppServers is the count of servers per sync state for one app in one
// environment.
type AppServers struct {
	Environment, App string
	Counts           map[string]int
}

// SetServers replaces the sync-state gauges. Series of environment/app
// pairs not in the list are deleted.
func (m *Metrics) SetServers(states []string, apps []AppServers) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := make(map[[2]string]struct{}, len(apps))
	for _, a := range apps {
		k := [2]string{a.Environment, a.App}
		seen[k] = struct{}{}
		for _, s := range states {
			m.servers.WithLabelValues(a.Environment, a.App, s).Set(float64(a.Counts[s]))
		}
	}
	for k := range m.known {
		if _, ok := seen[k]; !ok {
			labels := prometheus.Labels{"environment": k[0], "app": k[1]}
			m.servers.DeletePartialMatch(labels)
			m.deployments.DeletePartialMatch(labels)
			m.serverSteps.DeletePartialMatch(labels)
		}
	}
	m.known = seen
}

// RolloutStarted and RolloutDone bracket a rollout.
func (m *Metrics) RolloutStarted() { m.rolloutsInProgress.Inc() }

// RolloutDone records the result of a rollout.
func (m *Metrics) RolloutDone(env, app, result string) {
	m.rolloutsInProgress.Dec()
	m.deployments.WithLabelValues(env, app, result).Inc()
}

// ServerStep records one stage or activate step.
func (m *Metrics) ServerStep(env, app, step string, ok bool) {
	result := "success"
	if !ok {
		result = "failure"
	}
	m.serverSteps.WithLabelValues(env, app, step, result).Inc()
}

// FetchDone records a poll of the Git source; reason is "" on success.
func (m *Metrics) FetchDone(d time.Duration, reason string) {
	m.fetchDuration.Observe(d.Seconds())
	if reason != "" {
		m.fetchErrors.WithLabelValues(reason).Inc()
	}
}

// ForcePush counts a rewritten history of the followed branch.
func (m *Metrics) ForcePush() { m.forcePushes.Inc() }

// TagMoved counts a moved tag of the desired-state source that was
// followed.
func (m *Metrics) TagMoved() { m.tagMoves.Inc() }

// ArtifactTagMoved counts a moved tag of a Git-tag app artifact, once per
// move the daemon finds.
func (m *Metrics) ArtifactTagMoved() { m.artifactTagMoves.Inc() }

// SourceRevision records a successful poll: the commit the reference
// resolves to. The source's last-success time moves with every poll, so an
// alert can tell a stale source from an unchanged one.
func (m *Metrics) SourceRevision(source, ref, commit string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := [3]string{source, ref, commit}; m.srcRev != l {
		m.sourceRevision.DeleteLabelValues(m.srcRev[0], m.srcRev[1], m.srcRev[2])
		m.srcRev = l
	}
	m.sourceRevision.WithLabelValues(source, ref, commit).Set(1)
	m.sourceLastSuccess.Set(float64(now.Unix()))
}

// WebhookRequest counts a webhook request by provider and result.
func (m *Metrics) WebhookRequest(provider, result string) {
	m.webhookRequests.WithLabelValues(provider, result).Inc()
}
