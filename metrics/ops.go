package metrics

import "github.com/prometheus/client_golang/prometheus"

// opsCollectors count load-balancer errors and the operations asked
// through the API.
type opsCollectors struct {
	lbErrors   *prometheus.CounterVec
	operations *prometheus.CounterVec
}

func newOpsCollectors(reg prometheus.Registerer) opsCollectors {
	o := opsCollectors{
		lbErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitfleet_lb_errors_total",
			Help: "Failed calls to an environment's load balancer, by operation (read, drain, maint, ready); every one is also logged.",
		}, []string{"environment", "operation"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gitfleet_operations_total",
			Help: "Operations asked of the daemon (rollback, retry), by result (success, failure).",
		}, []string{"kind", "result"}),
	}
	reg.MustRegister(o.lbErrors, o.operations)
	return o
}

// LBError counts a failed call to an environment's load balancer.
func (m *Metrics) LBError(environment, operation string) {
	m.lbErrors.WithLabelValues(environment, operation).Inc()
}

// OperationDone counts an operation asked of the daemon.
func (m *Metrics) OperationDone(kind string, ok bool) {
	result := "success"
	if !ok {
		result = "failure"
	}
	m.operations.WithLabelValues(kind, result).Inc()
}
