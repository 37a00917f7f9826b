// Package rendezvous assembles kith-rendezvous: the gRPC RendezvousService (package
// server) on a Store (package store: memory, or Redis shared by any number of
// instances), the embedded STUN/TURN server (package turn), gRPC health and reflection,
// and Prometheus metrics. Run serves a Config until its context ends; Start returns a
// running Instance with its bound addresses (rendezvoustest wraps it for tests).
//
// # How a peer uses the service
//
// Records are version 2 (docs/DESIGN.md, "Rendezvous records v2"). Everything a peer
// signs is a kith.signed.v1.Envelope whose payload names the signer's key (public_key
// must equal the envelope's signer) and this server's name. Timestamps must lie within
// ±60 s of the server's clock; Auth and offer nonces are 16 random bytes and each may be
// used once (a reused nonce is refused with AlreadyExists).
//
//  0. ServerInfo: the server's name (kith-rendezvous --name; random per process by
//     default). Every Registration and Auth carries it in server; a proof naming another
//     server is refused (InvalidArgument, "signed for another rendezvous server").
//  1. STUN: send a Binding request from the peer's own UDP socket (the one QUIC will use)
//     to a stun: URI (from RegisterResponse, or the --stun address) to learn the
//     server-reflexive address. No credentials are needed.
//  2. Register(Registration, context kith/registration/v2, version 2): the candidates
//     sealed under the person's reachability key (reachability; only friends hold the
//     key), plain public_candidates only when the person publishes them (at most 16, each
//     "ip:port", IPv6 in brackets), and a TTL, clamped to [30 s, 10 min] and echoed in
//     ttl_seconds. Refresh before it expires, with a newer timestamp: a record no newer
//     than the stored one is refused (AlreadyExists, "not newer"). The response carries
//     observed_address (the gRPC source address) and the stun:/turn: URIs.
//  3. Listen(Auth, context kith/listen/v2) and keep the stream open. The first message
//     is an empty ListenResponse, sent once offers can be delivered: wait for it before
//     telling anyone you listen. Empty messages then arrive as keepalives (every 20 s by
//     default) and can be ignored; a message with offer set is a SealedOffer: open it
//     with your key (peer/discovery.OpenOffer) to get the caller's signed Offer (context
//     kith/offer/v2), together with the address the rendezvous saw its caller at. A newer
//     Listen for the same key, on any instance, ends the older stream with Aborted
//     ("replaced"). When an instance shuts down, streams end with Unavailable:
//     reconnect, with a fresh Auth.
//  4. Lookup(fingerprint) returns the signed Registration byte for byte; verify it with
//     signed.OpenFromFingerprint (context kith/registration/v2). NotFound when absent or
//     expired.
//  5. Connect(target, SealedOffer) delivers the sealed offer to the target's Listen
//     stream and returns the target's signed record. The server reads only the frame:
//     version, target (equal to the request's), timestamp, nonce, size; the caller, its
//     candidates and the punch secret are sealed to the target. Offers are charged to
//     the target (RateLimit.PerTarget) and to the client IP. It fails fast: NotFound when
//     the target is not registered, FailedPrecondition ("not listening") when it has no
//     Listen stream open anywhere. A friend answers with its own Connect (kind
//     OFFER_KIND_ANSWER, sealed to the caller, same punch secret). Both then punch.
//  6. TurnCredentials(Auth, context kith/turn-credentials/v2), only for a registered
//     caller: username "expiry:fingerprint", password base64(HMAC-SHA1(secret,
//     username)), valid ttl_seconds, for the turn: URIs. FailedPrecondition when the
//     caller is not registered or TURN is off. The relay refuses loopback, private,
//     CGNAT, link-local, multicast and unspecified peers unless --turn-allow-private.
//  7. Unregister(Auth, context kith/unregister/v2) removes the record if it is older than
//     the Auth's timestamp; removing an absent record succeeds.
//
// # Connection limits
//
// A connection may carry at most 16 concurrent streams (Config.MaxStreams) and messages
// of at most 64 KiB; client keepalive pings may come no more often than every 10 s
// (faster pings get the connection closed with ENHANCE_YOUR_CALM). The server pings idle
// connections every 2 minutes.
//
// # Operations
//
// gRPC health (grpc.health.v1) answers SERVING for "" and kith.rendezvous.v1.RendezvousService,
// NOT_SERVING while Redis does not answer (checked every Config.HealthInterval) and once
// the instance shuts down. Reflection lists every service. Neither counts against rate
// limits.
//
// # Errors
//
// Every refusal is a gRPC status whose message says what was wrong (server/errors.go
// maps them in one place): InvalidArgument for malformed input (stale timestamp, too
// many or bad candidates, oversized or unparsable payload, malformed fingerprint),
// Unauthenticated for a signature that does not verify, PermissionDenied for a payload
// key that is not its signer, AlreadyExists for replays, ResourceExhausted for rate
// limits (per IP and per key, shared through Redis) and oversized messages, and
// Unavailable when the store cannot be reached: retry later, the instance recovers by
// itself when Redis returns.
package rendezvous
