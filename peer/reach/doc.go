// Package reach owns the paths from this node to every remote key: the direct
// candidates a friend's record or ANSWER names, peer-reflexive addresses its pings came
// from, port-mapped addresses, and relays; their measured liveness and round trip; and
// the choice of the best one. The daemon, the crawler and the sync puller ask it for a
// connection to a key (Agent.Dial) and nothing else.
//
// It keeps the node's registration at the rendezvous fresh (peer/discovery), learns the
// reflexive address by STUN before the first registration, answers offers, punches
// (peer/nat holds the byte-level pieces) and relays through the rendezvous' TURN.
//
// Lock order: Agent.relayMu, then Agent.mu, then relayed.mu. Agent.mu is never held
// while sending on the network, dialling or calling into the Book.
package reach
