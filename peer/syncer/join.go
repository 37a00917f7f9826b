package syncer

import (
	"crypto/rand"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/device"
	"github.com/kithnet/kith/peer/store"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	shareddevice "github.com/kithnet/kith/shared/device"
)

// Joining a device (issue 16; docs/DESIGN.md "Joining a device"). A new device dials
// this one with its own fresh key, as a stranger, and sends a join code's secret. The
// key it proved in the handshake is the one certified: a code alone never gets a
// certificate for a key its holder does not have. Only a home with the identity key
// hands out codes, so only it answers; anything else is refused before any work.

// CertificateValidity is how long a device certificate is valid: revocation is the way
// to end it early.
const CertificateValidity = 5 * 365 * 24 * time.Hour

// SetInvites gives the server the join codes the person handed out (`kith device add`);
// without them Join refuses every call.
func (s *Server) SetInvites(iv *device.Invites) { s.invites = iv }

// Join redeems a join code for the caller's key and streams its certificate, then a
// snapshot of the home without the identity key.
func (s *Server) Join(req *syncv1.JoinRequest, stream syncv1.SyncService_JoinServer) error {
	caller, ok := s.caller(stream.Context())
	if !ok {
		return status.Error(codes.Unauthenticated, "no caller key")
	}
	if s.invites == nil {
		return status.Error(codes.FailedPrecondition, "this node takes no join codes")
	}
	if !s.stranger(caller) || s.st.IsOwnDevice(caller) {
		return status.Error(codes.PermissionDenied, "join: the key is known here already; a new device joins with a new key")
	}
	var secret [device.SecretLen]byte
	if len(req.GetSecret()) != len(secret) {
		return status.Error(codes.InvalidArgument, device.ErrMalformedCode.Error())
	}
	copy(secret[:], req.GetSecret())
	name, err := s.invites.Redeem(secret)
	switch {
	case errors.Is(err, device.ErrUsedCode), errors.Is(err, device.ErrExpiredCode):
		return status.Error(codes.FailedPrecondition, err.Error())
	case err != nil:
		return status.Error(codes.NotFound, err.Error())
	}
	devID := make([]byte, shareddevice.IDLen)
	if _, err := rand.Read(devID); err != nil {
		return toStatus(err)
	}
	cert, err := s.st.AddDevice(name, caller, devID, CertificateValidity)
	if err != nil {
		if errors.Is(err, store.ErrDeviceExists) {
			return status.Error(codes.AlreadyExists, err.Error())
		}
		return toStatus(err)
	}
	s.log.Info("a new device joined", "name", name, "device", caller.Short(), "id", devID)
	if err := stream.Send(&syncv1.JoinResponse{Certificate: cert, Name: name}); err != nil {
		return err
	}
	return s.sendSnapshot(stream)
}

// sendSnapshot streams JoinSnapshot in ChunkSize pieces.
func (s *Server) sendSnapshot(stream syncv1.SyncService_JoinServer) error {
	pr, pw := io.Pipe()
	var total atomic.Uint64
	done := make(chan error, 1)
	go func() {
		err := s.st.JoinSnapshot(pw, func(_, t uint64) { total.Store(t) })
		pw.CloseWithError(err)
		done <- err
	}()
	buf := make([]byte, ChunkSize)
	for {
		n, err := io.ReadFull(pr, buf)
		if n > 0 {
			if serr := stream.Send(&syncv1.JoinResponse{Chunk: buf[:n], Total: total.Load()}); serr != nil {
				pr.CloseWithError(serr)
				<-done
				return serr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if err := <-done; err != nil {
				return toStatus(err)
			}
			return nil
		}
		if err != nil {
			<-done
			return toStatus(err)
		}
	}
}
