package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// SocketName is the daemon's unix socket in the home directory.
const SocketName = "kith.sock"

// SocketPath returns the daemon socket's path for a home.
func SocketPath(home string) string { return filepath.Join(home, SocketName) }

// errNoDaemon says how to start the daemon; exit code 3.
func errNoDaemon(home string) error {
	if _, err := os.Stat(home); errors.Is(err, os.ErrNotExist) {
		return exitError{ExitNoDaemon, fmt.Errorf("no kith home at %s: create one with 'kith --home %s init', then start 'kith --home %s daemon'", home, home, home)}
	}
	return exitError{ExitNoDaemon, fmt.Errorf("no daemon is running for %s: start it with 'kith --home %s daemon' (it keeps running; use & or a service)", home, home)}
}

// dial connects to the daemon of c.home, failing fast with errNoDaemon when none runs.
func (c *call) dial(ctx context.Context) (localv1.LocalServiceClient, func(), error) {
	conn, err := c.dialConn(ctx)
	if err != nil {
		return nil, nil, err
	}
	return localv1.NewLocalServiceClient(conn), func() { conn.Close() }, nil
}

// dialConn connects to the daemon of c.home (every local service shares the socket).
func (c *call) dialConn(ctx context.Context) (*grpc.ClientConn, error) {
	sock := SocketPath(c.home)
	d := net.Dialer{Timeout: 2 * time.Second}
	probe, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, errNoDaemon(c.home)
	}
	probe.Close()
	conn, err := grpc.NewClient("unix://"+sock,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return nil, fmt.Errorf("connect to daemon: %w", err)
	}
	return conn, nil
}

// rpcError turns a daemon status into what a person reads, and its exit code.
func rpcError(home string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.InvalidArgument:
		return usageError{st.Message()}
	case codes.Unavailable:
		return errNoDaemon(home)
	}
	return errors.New(st.Message())
}
