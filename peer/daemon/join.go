package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/device"
	"github.com/kithnet/kith/peer/reach"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/transport"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	shareddevice "github.com/kithnet/kith/shared/device"
	"github.com/kithnet/kith/shared/identity"
)

// `kith init --join CODE` (issue 16; docs/DESIGN.md "Joining a device"): the new
// device makes its key, reaches the device that made the code (at Addr, or through the
// rendezvous as a stranger), checks in the handshake that it holds the code's
// identity, sends the secret, and unpacks what comes back as its home.

// Errors a caller may test for with errors.Is.
var (
	// ErrJoinRefused means the other device refused the code (wrong, expired or used).
	ErrJoinRefused = errors.New("the other device refused the join code")
	// ErrJoinNeedsAddr means a join has neither an address nor a rendezvous to use.
	ErrJoinNeedsAddr = errors.New("join: give --addr HOST:PORT of the device that made the code, or --rendezvous")
)

// JoinConfig is what `kith init --join` was asked for.
type JoinConfig struct {
	// Home is the new device's home directory; it must hold no identity.
	Home string
	// Code is the join code, parsed.
	Code device.Code
	// Addr is the other device's host:port (direct mode); empty: through Rendezvous.
	Addr string
	// Rendezvous are the rendezvous servers to reach it through when Addr is empty.
	Rendezvous []string
	// Logger receives progress; discarded when nil.
	Logger *slog.Logger
	// Timeout bounds reaching the other device and the transfer; 10 minutes when zero.
	Timeout time.Duration
	// AtRest, when set, returns the passphrase that encrypts the device key in the home
	// (empty: stored plain), as InitConfig.AtRest; it is asked before anything is
	// fetched. ScryptWorkFactor is its cost; 0 is the default.
	AtRest           func() ([]byte, error)
	ScryptWorkFactor int
}

// JoinResult says what joined.
type JoinResult struct {
	// ID is the person's ID, Name the device's name, Fingerprint its key's.
	ID          identity.ID
	Name        string
	Fingerprint identity.Fingerprint
}

// Join makes Home a new device of the person the code names.
func Join(ctx context.Context, cfg JoinConfig) (JoinResult, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = device.CodeTTL
	}
	if err := emptyHome(cfg.Home); err != nil {
		return JoinResult{}, err
	}
	if cfg.Addr == "" && len(cfg.Rendezvous) == 0 {
		return JoinResult{}, ErrJoinNeedsAddr
	}
	var atRest identity.KeyFileOptions
	if cfg.AtRest != nil {
		// Asked first: a prompt that fails must not have spent the code.
		pass, err := cfg.AtRest()
		if err != nil {
			return JoinResult{}, err
		}
		atRest = identity.KeyFileOptions{Passphrase: pass, ScryptWorkFactor: cfg.ScryptWorkFactor}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	dev, err := identity.Generate(rand.Reader)
	if err != nil {
		return JoinResult{}, err
	}
	cc, closeConn, err := dialJoin(ctx, cfg, dev)
	if err != nil {
		return JoinResult{}, fmt.Errorf("join: reach the device that made the code: %w", err)
	}
	defer closeConn()
	var via peer.Peer // the address the other device answered at, kept for own-device sync
	stream, err := syncv1.NewSyncServiceClient(cc).Join(ctx, &syncv1.JoinRequest{Secret: cfg.Code.Secret[:]}, grpc.Peer(&via))
	if err != nil {
		return JoinResult{}, joinError(err)
	}
	first, err := stream.Recv()
	if err != nil {
		return JoinResult{}, joinError(err)
	}
	cert := first.GetCertificate()
	if _, err := shareddevice.Check(cfg.Code.Person, dev.Public(), cert, nil, time.Now()); err != nil {
		return JoinResult{}, fmt.Errorf("join: the certificate the other device sent: %w", err)
	}
	if err := os.MkdirAll(cfg.Home, 0o700); err != nil {
		return JoinResult{}, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(copyChunks(stream, pw)) }()
	if err := store.ImportDeviceAtRest(cfg.Home, pr, dev, cert, atRest); err != nil {
		pr.CloseWithError(err)
		return JoinResult{}, fmt.Errorf("join: %w", err)
	}
	addr := cfg.Addr
	if addr == "" && via.Addr != nil {
		addr = via.Addr.String()
	}
	if addr != "" {
		if err := rememberAddr(cfg.Home, cfg.Code.Person, addr); err != nil {
			return JoinResult{}, err
		}
	}
	return JoinResult{ID: cfg.Code.Person.ID(), Name: first.GetName(), Fingerprint: dev.Public().Fingerprint()}, nil
}

// emptyHome refuses a home that has an identity (or any store) before anything is
// fetched.
func emptyHome(home string) error {
	if _, err := os.Stat(filepath.Join(home, store.FileName)); err != nil {
		return nil
	}
	st, err := store.Open(store.Config{Home: home, Logger: slog.New(slog.DiscardHandler)})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("a kith daemon is running for %s: %w; use a new --home", home, store.ErrHasIdentity)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	if self, err := st.Self(); err == nil {
		return fmt.Errorf("%s already has an identity (%s): %w; use a new --home", home, self.ID(), store.ErrHasIdentity)
	}
	return fmt.Errorf("%s already has a store; use a new --home", home)
}

// dialJoin connects to the code's person as the new device key dev: at cfg.Addr, or
// through the rendezvous as a stranger whose offer proves it holds the code
// (device.JoinProof; the other device answers only such strangers' offers while the
// code is pending). The handshake checks that the other end holds the code's identity
// key.
func dialJoin(ctx context.Context, cfg JoinConfig, dev *identity.Key) (*grpc.ClientConn, func(), error) {
	if cfg.Addr == "" {
		s, err := reach.StartStranger(dev, cfg.Rendezvous, "", cfg.Logger)
		if err != nil {
			return nil, nil, err
		}
		cc, err := s.DialJoin(ctx, cfg.Code.Person, device.JoinProof(cfg.Code.Secret))
		if err != nil {
			s.Close()
			return nil, nil, err
		}
		return cc, func() { cc.Close(); s.Close() }, nil
	}
	addr, err := net.ResolveUDPAddr("udp", cfg.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--addr %s: %w", cfg.Addr, err)
	}
	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, nil, err
	}
	tr, err := transport.New(transport.Config{Key: dev, PacketConn: udp, Logger: cfg.Logger})
	if err != nil {
		udp.Close()
		return nil, nil, err
	}
	cc, err := tr.Client(addr, cfg.Code.Person)
	if err != nil {
		tr.Close()
		udp.Close()
		return nil, nil, err
	}
	return cc, func() { cc.Close(); tr.Close(); udp.Close() }, nil
}

// copyChunks writes the snapshot chunks of stream to w.
func copyChunks(stream syncv1.SyncService_JoinClient, w io.Writer) error {
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return joinError(err)
		}
		if _, err := w.Write(m.GetChunk()); err != nil {
			return err
		}
	}
}

// joinError turns the other device's refusal into what a person reads.
func joinError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.NotFound, codes.FailedPrecondition, codes.InvalidArgument, codes.PermissionDenied, codes.AlreadyExists:
		return fmt.Errorf("%w: %s", ErrJoinRefused, st.Message())
	}
	return fmt.Errorf("join: %s", st.Message())
}

// rememberAddr keeps the address the identity's device was joined at, so the new
// device pulls it from the start.
func rememberAddr(home string, person identity.PublicKey, addr string) error {
	st, err := store.Open(store.Config{Home: home, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer st.Close()
	return st.SetDeviceAddr(person, addr)
}
