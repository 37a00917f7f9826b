package ui

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// The person's devices (issue 16): the list, a join code for a new one, removal. A
// join code stays valid while the daemon's AddDevice call is open, so the page keeps
// that call open in the background (until the code is redeemed or expires) rather
// than for the length of the request.

// codeTTL bounds the background wait for a join code (the daemon's own limit is 10 min).
const codeTTL = 11 * time.Minute

type devicesData struct {
	Devices []*localv1.Device
	// Code is a join code just made, and Name the device it is for.
	Code, Name string
	Expires    int64
	// Listen is this node's address, for `kith init --join CODE --addr`.
	Listen string
}

func (s *Server) devicesPage(w http.ResponseWriter, r *http.Request) {
	s.renderDevices(w, r, devicesData{})
}

func (s *Server) renderDevices(w http.ResponseWriter, r *http.Request, d devicesData) {
	ds, err := s.cfg.API.ListDevices(r.Context(), &localv1.ListDevicesRequest{})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	for _, dev := range ds.GetDevices() {
		if !dev.GetRevoked() {
			d.Devices = append(d.Devices, dev)
		}
	}
	if st, err := s.cfg.API.Status(r.Context(), &localv1.StatusRequest{}); err == nil {
		d.Listen = st.GetListenAddress()
	}
	s.pages.render(w, r, "devices", http.StatusOK, d)
}

// addDevice asks the daemon for a join code and shows it; the in-process AddDevice
// call goes on in the background so the code works until it is used or expires.
func (s *Server) addDevice(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	ctx, cancel := context.WithTimeout(context.Background(), codeTTL)
	first := make(chan *localv1.AddDeviceResponse, 1)
	failed := make(chan error, 1)
	go func() {
		defer cancel()
		err := s.cfg.API.AddDevice(&localv1.AddDeviceRequest{Name: name}, &addDeviceStream{ctx: ctx, send: func(m *localv1.AddDeviceResponse) error {
			if m.GetJoined() {
				s.cfg.Logger.Info("a device joined with a code from the web app", "name", name, "fingerprint", m.GetFingerprint())
				return nil
			}
			first <- m
			return nil
		}})
		failed <- err
	}()
	select {
	case m := <-first:
		s.renderDevices(w, r, devicesData{Code: m.GetCode(), Name: name, Expires: m.GetExpiresUnixMs()})
	case err := <-failed:
		if err == nil {
			err = errors.New("the daemon made no join code")
		}
		s.fail(w, r, http.StatusBadRequest, err)
	case <-r.Context().Done():
		cancel()
	}
}

// addDeviceStream lets the web app call the local API's streaming AddDevice in process.
type addDeviceStream struct {
	grpc.ServerStream // never called: AddDevice uses Send and Context only
	ctx               context.Context
	send              func(*localv1.AddDeviceResponse) error
}

func (e *addDeviceStream) Send(m *localv1.AddDeviceResponse) error { return e.send(m) }
func (e *addDeviceStream) Context() context.Context                { return e.ctx }

// removeDevice revokes the device named in the form.
func (s *Server) removeDevice(w http.ResponseWriter, r *http.Request) {
	_, err := s.cfg.API.RemoveDevice(r.Context(), &localv1.RemoveDeviceRequest{Name: r.PostFormValue("name")})
	s.done(w, r, err, "/devices")
}
