// Package rollout carries out the changes of a plan on the fleet: the
// files lane with the live, rolling and parallel strategies, the
// environment lane, the database lane, and the switch back of a parallel
// release (Rollback). Every strategy shares one run: its results, its
// requests, staging and the load-balancer steps, so that a server's
// standing is kept one way. Steps already started finish when stop is done;
// no new one starts after it; ctx cancels steps in flight.
//
// The package defines the interfaces it calls, each with the methods its
// users need: Servers (executor.Executor), Balancer (package lb), Database
// (package db). Nothing it does on a load balancer is ignored: a failed
// call is logged and counted (Metrics.LBError).
package rollout
