package daemon

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/device"
	"github.com/kithnet/kith/peer/store"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// The person's own devices, as `kith device add|ls|rm` and the web app see them
// (issue 16; docs/DESIGN.md "Joining a device").

// joinedWait bounds how long AddDevice waits, after the code was redeemed, for the new
// device to appear in the list (the server adds it right after redeeming).
const joinedWait = 10 * time.Second

// AddDevice hands out a join code and waits until a device redeems it, the code
// expires, or the caller gives up (which withdraws the code).
func (l *Local) AddDevice(req *localv1.AddDeviceRequest, stream localv1.LocalService_AddDeviceServer) error {
	k, err := l.st.Key()
	if errors.Is(err, store.ErrNoIdentity) {
		return status.Error(codes.FailedPrecondition, store.ErrNeedIdentity.Error())
	}
	if err != nil {
		return grpcError(err)
	}
	if err := device.CheckName(req.GetName()); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if _, ok := l.deviceNamed(req.GetName()); ok {
		return status.Errorf(codes.AlreadyExists, "a device called %q exists already; pick another name", req.GetName())
	}
	code, done, err := l.node.invites.Add(k.Public(), req.GetName())
	if err != nil {
		return grpcError(err)
	}
	expires := time.Now().Add(device.CodeTTL)
	if err := stream.Send(&localv1.AddDeviceResponse{Code: code.String(), ExpiresUnixMs: expires.UnixMilli()}); err != nil {
		l.node.invites.Cancel(code.Secret)
		return err
	}
	ttl := time.NewTimer(time.Until(expires))
	defer ttl.Stop()
	select {
	case <-done:
	case <-stream.Context().Done():
		l.node.invites.Cancel(code.Secret)
		return status.FromContextError(stream.Context().Err()).Err()
	case <-ttl.C:
		l.node.invites.Cancel(code.Secret)
		return status.Error(codes.DeadlineExceeded, device.ErrExpiredCode.Error())
	}
	deadline := time.Now().Add(joinedWait)
	for {
		if d, ok := l.deviceNamed(req.GetName()); ok {
			return stream.Send(&localv1.AddDeviceResponse{Joined: true, Fingerprint: string(d.Key.Fingerprint())})
		}
		if time.Now().After(deadline) {
			return status.Error(codes.Internal, "the code was redeemed but the device did not join (see the daemon's log)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (l *Local) deviceNamed(name string) (store.Device, bool) {
	ds, err := l.st.Devices()
	if err != nil {
		return store.Device{}, false
	}
	for _, d := range ds {
		if d.Name == name {
			return d, true
		}
	}
	return store.Device{}, false
}

// ListDevices lists the person's devices: this one first, online when connected now.
func (l *Local) ListDevices(ctx context.Context, _ *localv1.ListDevicesRequest) (*localv1.ListDevicesResponse, error) {
	ds, err := l.st.Devices()
	if err != nil {
		return nil, grpcError(err)
	}
	me, err := l.st.SigningKey()
	if err != nil {
		return nil, grpcError(err)
	}
	online := map[string]bool{}
	for _, p := range l.node.Peers() {
		online[string(p.Device.Fingerprint())] = true
	}
	out := &localv1.ListDevicesResponse{}
	for _, d := range ds {
		this := d.Key == me
		fp := string(d.Key.Fingerprint())
		ld := &localv1.Device{Name: d.Name, Fingerprint: fp, This: this, Online: this || (online[fp] && !d.Revoked), Revoked: d.Revoked}
		if this {
			ld.LastSeenUnixMs = time.Now().UnixMilli()
		} else if !d.LastSeen.IsZero() {
			ld.LastSeenUnixMs = d.LastSeen.UnixMilli()
		}
		out.Devices = append(out.Devices, ld)
	}
	return out, nil
}

// RemoveDevice revokes a device by name; it refuses the device this daemon runs as.
func (l *Local) RemoveDevice(ctx context.Context, req *localv1.RemoveDeviceRequest) (*localv1.RemoveDeviceResponse, error) {
	_, err := l.st.RevokeDevice(req.GetName())
	switch {
	case errors.Is(err, store.ErrThisDevice):
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, store.ErrNeedIdentity):
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	case err != nil:
		return nil, grpcError(err)
	}
	l.node.droppedDevice()
	return &localv1.RemoveDeviceResponse{}, nil
}

// droppedDevice ends the live connections of own devices revoked since: the transport
// refuses their next handshakes by itself.
func (n *Node) droppedDevice() {
	ds, err := n.st.Devices()
	if err != nil {
		return
	}
	for _, d := range ds {
		if d.Revoked && n.tr.DropDevice(d.Key) > 0 {
			n.log.Info("closed the connections of a revoked device", "name", d.Name, "device", d.Key.Short())
		}
	}
}
