package portmap

import "errors"

var (
	// ErrMalformed is a gateway answer that does not parse as the protocol says.
	ErrMalformed = errors.New("portmap: malformed answer from the gateway")
	// ErrMismatch is a well-formed answer to another request (nonce, port or
	// protocol differ): ignored, as a stale or forged packet must be.
	ErrMismatch = errors.New("portmap: answer does not match the request")
	// ErrRefused is a gateway that understood the request and said no.
	ErrRefused = errors.New("portmap: gateway refused the mapping")
	// ErrUnsupported is a gateway that does not speak the protocol (or this version).
	ErrUnsupported = errors.New("portmap: gateway does not support the protocol")
	// ErrAbsurd is an answer with a lifetime, port or address no sane mapping has.
	ErrAbsurd = errors.New("portmap: gateway answer out of bounds")
	// ErrNotPublic is an external address that the internet cannot reach (the
	// gateway sits behind another NAT): the mapping would be useless to a peer.
	ErrNotPublic = errors.New("portmap: gateway's external address is not public")
	// ErrNoGateway is a host without a default IPv4 gateway.
	ErrNoGateway = errors.New("portmap: no default IPv4 gateway")
	// ErrTimeout is a gateway that did not answer in time.
	ErrTimeout = errors.New("portmap: no answer from the gateway in time")
	// ErrNoPort is a Config without a port to map.
	ErrNoPort = errors.New("portmap: no local port to map (Config.Port is 0)")
)
