// Package nat holds the peer's NAT traversal building blocks, all on the peer's one
// UDP socket: a demultiplexer that gives QUIC a net.PacketConn of its own while it
// answers STUN and punch packets (Mux), STUN binding to learn the server-reflexive
// address (Mux.Binding), simultaneous-open hole punching with a nonce shared through
// signalling (Mux.Punch), keepalives that hold NAT mappings open (Keepalive), and a
// TURN allocation when no direct path forms (Mux.AllocateTURN, AllocateTURN).
//
// The wire format of punch packets is parsed by pure functions (ParsePacket,
// Classify), fuzzed beside them.
package nat
