package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DriftServer is one server of one app (or of an environment's config,
// or a database: App "") drifted in one way, since a time.
type DriftServer struct {
	Environment, App, Server, Kind string
	Since                          time.Time
}

// PendingLane is the number of pending server steps (or database changes)
// of a lane in an environment.
type PendingLane struct {
	Environment, Lane string
	N                 int
}

type driftCollectors struct {
	driftServers     *prometheus.GaugeVec
	driftInfo        *prometheus.GaugeVec
	driftAge         *prometheus.GaugeVec
	pending          *prometheus.GaugeVec
	envReconciled    *prometheus.GaugeVec
	deployDuration   *prometheus.HistogramVec
	contentCheckLast prometheus.Gauge
	lastDrift        lastDrift
}

func newDriftCollectors(reg prometheus.Registerer) driftCollectors {
	c := driftCollectors{
		driftServers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gitfleet_drift_servers",
			Help: "Servers drifted from the desired state, by environment, app and kind (version, content, loadbalancer, database, environment).",
		}, []string{"environment", "app", "kind"}),
		driftInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gitfleet_drift_info",
			Help: "1 for each drifted server and kind; only drifted servers have a series.",
		}, []string{"environment", "app", "server", "kind"}),
		driftAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gitfleet_drift_age_seconds",
			Help: "Seconds since the oldest drift of the environment and app was first seen.",
		}, []string{"environment", "app"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gitfleet_pending_changes",
			Help: "Pending server steps (database changes for the database lane), by environment and lane.",
		}, []string{"environment", "lane"}),
		envReconciled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gitfleet_environment_last_reconcile_success_timestamp_seconds",
			Help: "When a pass last observed the environment and carried out its changes without an error.",
		}, []string{"environment"}),
		deployDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gitfleet_deployment_duration_seconds",
			Help:    "Duration of rollouts, by strategy and result.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"strategy", "result"}),
		contentCheckLast: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gitfleet_content_check_last_timestamp_seconds",
			Help: "When the content of the active releases was last checked against their manifests.",
		}),
	}
	reg.MustRegister(c.driftServers, c.driftInfo, c.driftAge, c.pending, c.envReconciled, c.deployDuration, c.contentCheckLast)
	return c
}

// SetDrift replaces the drift and pending series: environments, apps and
// servers that are no longer drifted (or left the repository) lose theirs.
// Series that stay are updated in place, never removed and added again, so
// that a scrape in between cannot see a gap (and reset an alert's for).
func (m *Metrics) SetDrift(now time.Time, drifted []DriftServer, pending []PendingLane) {
	m.mu.Lock()
	defer m.mu.Unlock()
	counts := map[[3]string]int{}
	info := map[[4]string]bool{}
	oldest := map[[2]string]time.Time{}
	for _, d := range drifted {
		counts[[3]string{d.Environment, d.App, d.Kind}]++
		info[[4]string{d.Environment, d.App, d.Server, d.Kind}] = true
		k := [2]string{d.Environment, d.App}
		if o, ok := oldest[k]; !ok || d.Since.Before(o) {
			oldest[k] = d.Since
		}
	}
	lanes := map[[2]string]int{}
	for _, p := range pending {
		lanes[[2]string{p.Environment, p.Lane}] += p.N
	}
	for k, n := range counts {
		m.driftServers.WithLabelValues(k[0], k[1], k[2]).Set(float64(n))
	}
	for k := range info {
		m.driftInfo.WithLabelValues(k[0], k[1], k[2], k[3]).Set(1)
	}
	for k, since := range oldest {
		m.driftAge.WithLabelValues(k[0], k[1]).Set(now.Sub(since).Seconds())
	}
	for k, n := range lanes {
		m.pending.WithLabelValues(k[0], k[1]).Set(float64(n))
	}
	for k := range m.lastDrift.counts {
		if _, ok := counts[k]; !ok {
			m.driftServers.DeleteLabelValues(k[0], k[1], k[2])
		}
	}
	for k := range m.lastDrift.info {
		if !info[k] {
			m.driftInfo.DeleteLabelValues(k[0], k[1], k[2], k[3])
		}
	}
	for k := range m.lastDrift.oldest {
		if _, ok := oldest[k]; !ok {
			m.driftAge.DeleteLabelValues(k[0], k[1])
		}
	}
	for k := range m.lastDrift.lanes {
		if _, ok := lanes[k]; !ok {
			m.pending.DeleteLabelValues(k[0], k[1])
		}
	}
	m.lastDrift = lastDrift{counts: counts, info: info, oldest: oldest, lanes: lanes}
}

type lastDrift struct {
	counts map[[3]string]int
	info   map[[4]string]bool
	oldest map[[2]string]time.Time
	lanes  map[[2]string]int
}

// EnvironmentReconciled records a pass without errors in the environment;
// ForgetEnvironments drops the series of environments not in keep.
func (m *Metrics) EnvironmentReconciled(env string, now time.Time) {
	m.envReconciled.WithLabelValues(env).Set(float64(now.Unix()))
}

// ForgetEnvironments deletes the per-environment series of environments
// that left the desired state.
func (m *Metrics) ForgetEnvironments(keep map[string]bool, all []string) {
	for _, e := range all {
		if !keep[e] {
			m.envReconciled.DeleteLabelValues(e)
			m.lbErrors.DeletePartialMatch(prometheus.Labels{"environment": e})
		}
	}
}

// DeploymentDone records the duration of a rollout.
func (m *Metrics) DeploymentDone(strategy, result string, d time.Duration) {
	m.deployDuration.WithLabelValues(strategy, result).Observe(d.Seconds())
}

// ContentChecked records a round of content checks.
func (m *Metrics) ContentChecked(now time.Time) { m.contentCheckLast.Set(float64(now.Unix())) }
