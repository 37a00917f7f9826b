package daemon

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/device"
	"github.com/kithnet/kith/peer/reach"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/syncer"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
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
	valid := device.CodeTTL
	if ms := req.GetValidMs(); ms != 0 {
		// Checked in milliseconds first: a huge value must not overflow into a short one.
		if ms < 0 || ms > device.CodeTTL.Milliseconds() {
			return status.Errorf(codes.InvalidArgument, "%v (asked for %d ms)", device.ErrValidity, ms)
		}
		valid = time.Duration(ms) * time.Millisecond
	}
	expires := time.Now().Add(valid)
	code, done, err := l.node.invites.AddValid(k.Public(), req.GetName(), valid)
	if errors.Is(err, device.ErrValidity) {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if err != nil {
		return grpcError(err)
	}
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
		// Devices pull each other every ownDevicePoll on a connection of their own, so
		// one heard from within a few polls is online even between connections.
		recent := time.Since(d.LastSeen) < 3*ownDevicePoll
		ld := &localv1.Device{Name: d.Name, Fingerprint: fp, This: this, Online: this || ((online[fp] || recent) && !d.Revoked), Revoked: d.Revoked}
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

// ownDevicePoll is how often the person's other devices are pulled when nothing wakes
// the loop sooner.
const ownDevicePoll = 3 * time.Second

// FollowDevices pulls the person's other devices until ctx ends: at once, then every
// ownDevicePoll and after every local change.
func (n *Node) FollowDevices(ctx context.Context) {
	t := time.NewTicker(ownDevicePoll)
	defer t.Stop()
	for {
		changed := n.st.Changed()
		n.SyncDevices(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-changed:
		}
	}
}

// SyncDevices pulls every other own device once: at its known address, and in
// rendezvous mode through an offer to that device when the address fails or none is
// known. A device that does not answer is logged at debug level: devices come and go.
func (n *Node) SyncDevices(ctx context.Context) {
	self, err := n.st.Self()
	if err != nil {
		return
	}
	me, err := n.st.SigningKey()
	if err != nil {
		return
	}
	ds, err := n.st.Devices()
	if err != nil {
		n.log.Warn("could not list own devices", "err", err)
		return
	}
	for _, d := range ds {
		if d.Key == me || d.Revoked || (d.Addr == "" && !n.reach.Rendezvous()) || ctx.Err() != nil {
			continue
		}
		res, err := n.pullDevice(ctx, self, d)
		if err != nil {
			n.log.Debug("could not sync an own device", "device", d.Name, "addr", d.Addr, "err", err)
			continue
		}
		if res.Stored+res.Dropped+res.Removed > 0 {
			n.log.Info("synced own device", "device", d.Name, "stored", res.Stored, "dropped", res.Dropped, "blobs", res.Blobs, "removed_friends", res.Removed, "cursor", res.Cursor)
		}
		if res.Removed > 0 {
			n.Reregister() // the reachability key rotated, as on a local removal
		}
	}
}

// pullDevice reaches own device d (reach.Agent.DialDevice checks in the handshake that
// it is exactly that device of the person) and pulls it. An address found through the
// rendezvous replaces the one kept for it.
func (n *Node) pullDevice(ctx context.Context, self identity.PublicKey, d store.Device) (syncer.OwnResult, error) {
	cert, err := d.CertificateEnvelope()
	if err != nil {
		return syncer.OwnResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cc, err := n.reach.DialDevice(ctx, reach.Device{Key: d.Key, Certificate: cert, Addr: d.Addr, Name: d.Name})
	if err != nil {
		return syncer.OwnResult{}, err
	}
	defer cc.Close()
	if err := n.st.SeenDevice(d.Key, time.Now()); err != nil {
		n.log.Debug("could not note an own device's visit", "err", err)
	}
	if at := n.reach.Remote(d.Key); at != "" && at != d.Addr {
		if err := n.st.SetDeviceAddr(d.Key, at); err != nil {
			n.log.Debug("could not keep an own device's address", "device", d.Name, "err", err)
		}
	}
	return n.puller.PullOwn(ctx, syncv1.NewSyncServiceClient(cc), d.Key)
}
