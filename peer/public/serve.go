package public

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server timeouts: slow clients are cut off instead of holding connections.
const (
	// ReadHeaderTimeout bounds reading a request's headers (slowloris).
	ReadHeaderTimeout = 5 * time.Second
	// ReadTimeout bounds reading a whole request; the routes take no body.
	ReadTimeout = 10 * time.Second
	// WriteTimeout bounds writing a response, large blobs to slow readers included.
	WriteTimeout = 2 * time.Minute
	// IdleTimeout bounds a kept-alive connection between requests.
	IdleTimeout = 60 * time.Second
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 16 << 10
	// ShutdownGrace is how long Serve lets requests in flight finish once ctx is done.
	ShutdownGrace = 5 * time.Second
)

// NewServer returns an http.Server for h with the timeouts above.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr: addr, Handler: h,
		ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: MaxHeaderBytes,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// Serve serves h on addr until ctx is done, over TLS when tlsCert and tlsKey (PEM file
// paths) are both set, then shuts down gracefully. It returns nil after a shutdown that
// ctx asked for, and the listener's error otherwise.
func Serve(ctx context.Context, addr, tlsCert, tlsKey string, h http.Handler) error {
	if (tlsCert == "") != (tlsKey == "") {
		return errors.New("public http: give both a TLS certificate and its key, or neither")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("public http: listen on %s: %w", addr, err)
	}
	return ServeListener(ctx, ln, NewServer(addr, h), tlsCert, tlsKey)
}

// ServeListener is Serve on a listener and server the caller made (for tests, or to
// change the timeouts). It closes ln.
func ServeListener(ctx context.Context, ln net.Listener, srv *http.Server, tlsCert, tlsKey string) error {
	// srv.Serve closes ln, but ServeTLS returns before serving when the certificate does
	// not load; closing twice is harmless.
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		if tlsCert != "" {
			errc <- srv.ServeTLS(ln, tlsCert, tlsKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("public http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("public http: shut down: %w", err)
	}
	return nil
}
