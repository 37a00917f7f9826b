package daemon

import (
	"errors"
	"log/slog"

	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/ui"
)

// listenUI binds the web app when cfg.UI asks for one; nil when it is off or its address
// is busy (the node runs on without it, and says so). An unsafe configuration, such as a
// public address without TLS, is an error.
func listenUI(cfg RunConfig, local *Local, st *store.Store, pulled *ui.Signal, log *slog.Logger) (*ui.Server, error) {
	if cfg.UI == "" {
		return nil, nil
	}
	web, err := ui.Listen(ui.Config{Addr: cfg.UI, Home: cfg.Home, API: local, Blobs: st, Changes: st, Pulled: pulled,
		TLSCert: cfg.UITLSCert, TLSKey: cfg.UITLSKey, Password: cfg.UIPassword, Logger: log,
		Conversation: NewConversation(local), Notes: st})
	if errors.Is(err, ui.ErrListen) {
		log.Error("running without the web app", "err", err)
		return nil, nil
	}
	return web, err
}
