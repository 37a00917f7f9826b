package ui

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/backup"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	"github.com/kithnet/kith/shared/identity"
)

func (s *Server) backupPage(w http.ResponseWriter, r *http.Request) {
	s.pages.render(w, r, "backup", http.StatusOK, nil)
}

// passphrase reads and checks the passphrase and its confirmation from the form.
func passphrase(r *http.Request) ([]byte, error) {
	p, c := r.PostFormValue("passphrase"), r.PostFormValue("confirm")
	if p != c {
		return nil, errors.New("the two passphrases differ; type the same one twice")
	}
	if err := backup.CheckPassphrase([]byte(p)); err != nil {
		return nil, err
	}
	return []byte(p), nil
}

// exportHome streams the whole home, encrypted exactly as `kith export` encrypts it, as
// a download. Nothing is written on the daemon's disk.
func (s *Server) exportHome(w http.ResponseWriter, r *http.Request) {
	pass, err := passphrase(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="kith-export-`+time.Now().Format("2006-01-02")+`.age"`)
	bw := bufio.NewWriterSize(w, 1<<20)
	ew, err := backup.Encrypt(bw, pass, s.workFactor())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	// An error past this point cuts the download short; age refuses a truncated file on import.
	if err := s.cfg.API.ExportHome(&localv1.ExportHomeRequest{}, &exportStream{ctx: r.Context(), send: func(m *localv1.ExportHomeResponse) error {
		_, err := ew.Write(m.GetChunk())
		return err
	}}); err != nil {
		s.cfg.Logger.Error("web export failed", "err", err)
		return
	}
	if err := ew.Close(); err != nil {
		return
	}
	bw.Flush()
}

// exportStream lets the web app call the local API's streaming ExportHome in process.
type exportStream struct {
	grpc.ServerStream // never called: ExportHome uses Send and Context only
	ctx               context.Context
	send              func(*localv1.ExportHomeResponse) error
}

func (e *exportStream) Send(m *localv1.ExportHomeResponse) error { return e.send(m) }
func (e *exportStream) Context() context.Context                 { return e.ctx }

// exportKey downloads the identity key, passphrase-encrypted as `kith key export` does.
func (s *Server) exportKey(w http.ResponseWriter, r *http.Request) {
	pass, err := passphrase(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	resp, err := s.cfg.API.ExportKey(r.Context(), &localv1.ExportKeyRequest{})
	if status.Code(err) == codes.FailedPrecondition { // a joined device holds no identity key
		s.fail(w, r, http.StatusConflict, err)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	k, err := identity.FromSeed(resp.GetSeed())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	data, err := identity.MarshalKey(k, identity.KeyFileOptions{Passphrase: pass, ScryptWorkFactor: s.workFactor()})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="kith-key.age"`)
	w.Write(data)
}

// workFactor is the configured scrypt cost (lowered only by in-process tests), else the
// binary's (backup.WorkFactor).
func (s *Server) workFactor() int {
	if s.cfg.ScryptWorkFactor > 0 {
		return s.cfg.ScryptWorkFactor
	}
	return backup.WorkFactor()
}
