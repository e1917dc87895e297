// Package lb drives load balancers for the rolling and parallel
// strategies: HAProxy through its runtime API, and any other through
// commands of the user's. Every call is bounded by the load balancer's
// timeout (spec's loadBalancer.timeout, default 5s). Drivers answer in the
// vocabulary of package fleet; the interfaces they satisfy are defined by
// the code that calls them (rollout.Balancer).
package lb

import (
	"context"
	"fmt"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
)

// Driver is what every driver of this package offers; its users define
// the interfaces they need.
type Driver interface {
	Servers(ctx context.Context) (map[string]fleet.LBServer, error)
	Set(ctx context.Context, server string, state fleet.LBAdmin) error
}

// New returns the driver an environment's load balancer names.
func New(lb *spec.LoadBalancer) (Driver, error) {
	switch lb.Type {
	case spec.LBHAProxy:
		return &HAProxy{Address: lb.Address, Backend: lb.Backend, Timeout: lb.Timeout}, nil
	case spec.LBCommand:
		return &Command{Drain: lb.Drain, Ready: lb.Ready, Maint: lb.Maint, State: lb.State, Timeout: lb.Timeout}, nil
	}
	return nil, fmt.Errorf("unknown load balancer type %q", lb.Type)
}
