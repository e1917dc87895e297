// Package fleet is the vocabulary shared by the code that reaches servers
// (transports, load-balancer drivers, database runners) and the code that
// decides and drives (plan, rollout, the controller): what a server holds,
// what a load balancer says, what a step asks for. It holds values only and
// does no I/O, so that interfaces can be defined by their consumers without
// import cycles.
//
// Every record gitfleet keeps on a server carries a format version
// (Marker.Format, EnvRecord.Format, the manifests of the SSH transport). A
// newer gitfleet reads every older format; a record of a newer format than
// this gitfleet knows is not written over: the server is held with a reason
// that says to upgrade (docs/observability.md, "Formats").
package fleet
