package fleet

// LBAdmin is the administrative state of a server in a load balancer.
type LBAdmin string

// The administrative states: taking traffic, finishing its sessions but
// taking no new ones, out entirely.
const (
	LBReady LBAdmin = "ready"
	LBDrain LBAdmin = "drain"
	LBMaint LBAdmin = "maint"
)

// LBServer is how a load balancer sees one server.
type LBServer struct {
	Admin LBAdmin `json:"admin"`
	// Up is the load balancer's own verdict (its health checks).
	Up bool `json:"up"`
	// Sessions is the number of sessions the server has now.
	Sessions int `json:"sessions"`
}

// Available reports whether the server takes traffic: ready and up.
func (s LBServer) Available() bool { return s.Admin == LBReady && s.Up }
