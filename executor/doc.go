// Package executor carries out server steps over a Transport: it observes
// what each server holds, stages releases (distribution), activates them
// (delivery), rolls them back, checks and heals their content, and applies
// the environment lane's managed files. Every transport gives servers the
// same layout:
//
//	<deployTo>/releases/<version>-<digest>/   an immutable staged release
//	<deployTo>/current -> releases/...        switched atomically
//	<deployTo>/.gitfleet/state.json           what gitfleet last did here
//
// A release is staged under a temporary name and renamed when complete, so a
// half-copied release is never taken as staged; current is replaced by
// renaming a new link over it, so a server is always on a whole release.
//
// The transports are transport/local and transport/ssh; the interfaces
// they satisfy (Transport, ConfigTransport, ChecksumTransport) are defined
// here, by their user. No write leaves its root (deployTo, or the
// environmentFiles root of a managed file): a root that is a symbolic link,
// or a link below it that leads out, refuses the write with a
// *transport.RootError.
package executor
