package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	"github.com/kithnet/kith/rendezvous"
	"github.com/kithnet/kith/rendezvous/rendezvoustest"
	"github.com/kithnet/kith/shared/identity"
	"github.com/kithnet/kith/shared/redistest"
)

func TestDevicesStayRegisteredMemory(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{Keepalive: 50 * time.Millisecond})
	checkDevices(t, srv.Client(t), srv.Client(t))
}

func TestDevicesStayRegisteredRedis(t *testing.T) {
	cfg := rendezvous.Config{RedisURL: redistest.Start(t).URL(), Keepalive: 50 * time.Millisecond}
	a, b := rendezvoustest.Start(t, cfg), rendezvoustest.Start(t, cfg)
	checkDevices(t, a.Client(t), b.Client(t))
}

// deviceListen opens a Listen stream for device d and waits for its first keepalive.
func deviceListen(t *testing.T, c rendezvousv1.RendezvousServiceClient, d rendezvoustest.Device) rendezvousv1.RendezvousService_ListenClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := c.Listen(ctx, &rendezvousv1.ListenRequest{Auth: rendezvoustest.DeviceAuth(t, d, ctxListen, time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := st.Recv(); err != nil || first.GetOffer() != nil {
		t.Fatalf("first Listen message = %v, %v; want an empty keepalive", first, err)
	}
	return st
}

// checkDevices: Alice's laptop and desktop register and listen (through ca) at once;
// Bob (through cb) finds both, and an offer routed to one device reaches only it. A
// newer Listen of the laptop replaces only the laptop's stream.
func checkDevices(t *testing.T, ca, cb rendezvousv1.RendezvousServiceClient) {
	t.Helper()
	alice := rendezvoustest.NewKey(t)
	afp := alice.Public().Fingerprint()
	laptop := rendezvoustest.NewDevice(t, alice, "laptop01")
	desktop := rendezvoustest.NewDevice(t, alice, "desktop1")
	recs := map[string]*signedv1.Envelope{}
	for _, d := range []rendezvoustest.Device{laptop, desktop} {
		env := rendezvoustest.DeviceRegistration(t, d, time.Now(), time.Minute)
		if _, err := ca.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: env}); err != nil {
			t.Fatalf("register %s: %v", d.ID, err)
		}
		recs[string(d.ID)] = env
	}
	look, err := cb.Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: string(afp)})
	if err != nil {
		t.Fatalf("lookup of a person with only devices: %v", err)
	}
	if len(look.GetDevices()) != 2 || !proto.Equal(look.GetDevices()[0], recs["desktop1"]) || !proto.Equal(look.GetDevices()[1], recs["laptop01"]) {
		t.Fatalf("lookup returned %d device records; want desktop1 and laptop01 byte for byte", len(look.GetDevices()))
	}
	many, err := cb.LookupMany(ctxT(t), &rendezvousv1.LookupManyRequest{Fingerprints: []string{string(afp)}})
	if err != nil || len(many.GetRecords()) != 1 || len(many.GetRecords()[0].GetDevices()) != 2 {
		t.Fatalf("LookupMany = %v, %v; want Alice with two devices", many, err)
	}

	stL, stD := deviceListen(t, ca, laptop), deviceListen(t, ca, desktop)
	offerTo := func(d rendezvoustest.Device) *rendezvousv1.SealedOffer {
		t.Helper()
		o := rendezvoustest.DeviceOffer(t, afp, d.ID, time.Now())
		resp, err := cb.Connect(ctxT(t), &rendezvousv1.ConnectRequest{TargetFingerprint: string(afp), Offer: o})
		if err != nil {
			t.Fatalf("connect to %s: %v", d.ID, err)
		}
		if !proto.Equal(resp.GetRecord(), recs[string(d.ID)]) {
			t.Fatalf("connect to %s returned another record", d.ID)
		}
		return o
	}
	oL, oD := offerTo(laptop), offerTo(desktop)
	if got := recvOffer(t, stL); !proto.Equal(got.GetOffer(), oL) {
		t.Fatal("the laptop did not get its offer first (or got the desktop's)")
	}
	if got := recvOffer(t, stD); !proto.Equal(got.GetOffer(), oD) {
		t.Fatal("the desktop did not get its offer first (or got the laptop's)")
	}

	// A newer Listen of the laptop ends the laptop's old stream, and only it.
	stL2 := deviceListen(t, ca, laptop)
	for {
		if _, err := stL.Recv(); err != nil {
			wantCode(t, err, codes.Aborted, "replaced by a newer Listen")
			break
		}
	}
	oD = offerTo(desktop)
	if got := recvOffer(t, stD); !proto.Equal(got.GetOffer(), oD) {
		t.Fatal("the desktop's stream did not survive the laptop's new Listen")
	}
	oL = offerTo(laptop)
	if got := recvOffer(t, stL2); !proto.Equal(got.GetOffer(), oL) {
		t.Fatal("the laptop's new stream did not get its offer")
	}

	// An offer to a device that is not registered.
	o := rendezvoustest.DeviceOffer(t, afp, []byte("nosuchdv"), time.Now())
	_, err = cb.Connect(ctxT(t), &rendezvousv1.ConnectRequest{TargetFingerprint: string(afp), Offer: o})
	wantCode(t, err, codes.NotFound, "device")

	// Unregistering the laptop leaves the desktop.
	if _, err := ca.Unregister(ctxT(t), &rendezvousv1.UnregisterRequest{Auth: rendezvoustest.DeviceAuth(t, laptop, identity.ContextUnregister, time.Now().Add(time.Second))}); err != nil {
		t.Fatalf("unregister laptop: %v", err)
	}
	look, err = cb.Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: string(afp)})
	if err != nil || len(look.GetDevices()) != 1 || !proto.Equal(look.GetDevices()[0], recs["desktop1"]) {
		t.Fatalf("after unregistering the laptop: %v, %v; want only the desktop", look, err)
	}
}

// TestDeviceRecordsRefused: a device record must chain to the person it claims.
func TestDeviceRecordsRefused(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{})
	c := srv.Client(t)
	alice, mallory := rendezvoustest.NewKey(t), rendezvoustest.NewKey(t)
	good := rendezvoustest.NewDevice(t, alice, "laptop01")
	other := rendezvoustest.NewDevice(t, alice, "desktop1")
	tests := []struct {
		name   string
		mutate func(d *rendezvoustest.Device)
		code   codes.Code
		msg    string
	}{
		{"certificate of another device's key", func(d *rendezvoustest.Device) { d.Cert = other.Cert }, codes.PermissionDenied, "not a device certified"},
		{"device id differs from the certificate", func(d *rendezvoustest.Device) { d.ID = []byte("desktop1") }, codes.PermissionDenied, "do not agree"},
		{"id without certificate", func(d *rendezvoustest.Device) { d.Cert = nil }, codes.PermissionDenied, "do not agree"},
		{"certificate signed by a stranger", func(d *rendezvoustest.Device) {
			*d = rendezvoustest.NewDevice(t, mallory, "laptop01")
			d.Cert.Signer = alice.Public().Bytes() // claims Alice; Mallory's signature
		}, codes.Unauthenticated, "signature does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := good
			tt.mutate(&d)
			env := rendezvoustest.DeviceRegistration(t, d, time.Now(), time.Minute)
			_, err := c.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: env})
			wantCode(t, err, tt.code, tt.msg)
			_, err = c.Listen(ctxT(t), &rendezvousv1.ListenRequest{Auth: rendezvoustest.DeviceAuth(t, d, ctxListen, time.Now())})
			if err == nil {
				st, _ := c.Listen(ctxT(t), &rendezvousv1.ListenRequest{Auth: rendezvoustest.DeviceAuth(t, d, ctxListen, time.Now())})
				_, err = st.Recv()
			}
			wantCode(t, err, tt.code, tt.msg)
		})
	}
	if _, err := c.Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: string(alice.Public().Fingerprint())}); err == nil {
		t.Fatal("a refused device record was stored under Alice")
	}
}

// TestDeviceTurnCredentials: a device gets TURN credentials only once it is registered,
// charged to its person (so a person's devices share one quota); an unregistered
// device of a registered person gets none.
func TestDeviceTurnCredentials(t *testing.T) {
	srv := rendezvoustest.Start(t, rendezvous.Config{TURNSecret: "s3cret"})
	c := srv.Client(t)
	alice := rendezvoustest.NewKey(t)
	laptop, desktop := rendezvoustest.NewDevice(t, alice, "laptop01"), rendezvoustest.NewDevice(t, alice, "desktop1")
	ask := func(d rendezvoustest.Device) (*rendezvousv1.TurnCredentialsResponse, error) {
		return c.TurnCredentials(ctxT(t), &rendezvousv1.TurnCredentialsRequest{
			Auth: rendezvoustest.DeviceAuth(t, d, identity.ContextTurnCredentials, time.Now())})
	}
	_, err := ask(laptop)
	wantCode(t, err, codes.FailedPrecondition, "not registered")
	if _, err := c.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: rendezvoustest.DeviceRegistration(t, laptop, time.Now(), time.Minute)}); err != nil {
		t.Fatal(err)
	}
	creds, err := ask(laptop)
	if err != nil {
		t.Fatalf("registered laptop: %v", err)
	}
	if !strings.HasSuffix(creds.GetUsername(), ":"+string(alice.Public().Fingerprint())) {
		t.Fatalf("credentials %q are not charged to Alice's fingerprint", creds.GetUsername())
	}
	_, err = ask(desktop)
	wantCode(t, err, codes.FailedPrecondition, "not registered")
	// Alice's own identity record and a device record are both returned by LookupMany.
	if _, err := c.Register(ctxT(t), &rendezvousv1.RegisterRequest{Record: rendezvoustest.Registration(t, alice, time.Now(), time.Minute)}); err != nil {
		t.Fatal(err)
	}
	many, err := c.LookupMany(ctxT(t), &rendezvousv1.LookupManyRequest{Fingerprints: []string{string(alice.Public().Fingerprint())}})
	if err != nil || len(many.GetRecords()) != 1 || len(many.GetRecords()[0].GetDevices()) != 1 ||
		string(many.GetRecords()[0].GetRecord().GetSigner()) != string(alice.Public().Bytes()) {
		t.Fatalf("LookupMany = %v, %v; want Alice's own record and her laptop's", many, err)
	}
	look, err := c.Lookup(ctxT(t), &rendezvousv1.LookupRequest{Fingerprint: string(alice.Public().Fingerprint())})
	if err != nil || string(look.GetRecord().GetSigner()) != string(alice.Public().Bytes()) || len(look.GetDevices()) != 1 {
		t.Fatalf("Lookup = %v, %v; want Alice's own record first and her laptop beside it", look, err)
	}
}
