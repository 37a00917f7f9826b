package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/kithnet/kith/peer/daemon"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/shared/identity"
)

// AddrFile is where a running daemon writes the address it listens on.
const AddrFile = "daemon.addr"

func cmdDaemon(e *env, args []string) error {
	fs := e.flags("daemon [--listen ADDR]", "run the node")
	listen := fs.String("listen", ":7411", "UDP address to listen on for QUIC")
	once := fs.Bool("sync-once", false, "pull every friend once, then exit (non-zero when one fails)")
	batch := fs.Int("batch", 0, "changes per pull step (0: the server's default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	home, err := store.Home(e.home, e.getenv)
	if err != nil {
		return err
	}
	st, err := store.Open(store.Config{Home: home, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	key, err := st.Key()
	if err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	defer pc.Close()
	node, err := daemon.Start(daemon.Config{
		Store: st, PacketConn: pc, Logger: log, BatchSize: *batch,
		Progress: func(friend identity.PublicKey, step store.Applied, cursor uint64) {
			log.Info("pull step", "friend", friend.ID(), "cursor", cursor, "stored", step.Stored, "dropped", step.Dropped)
		},
	})
	if err != nil {
		return err
	}
	defer node.Close()
	addr := node.Addr().String()
	if err := os.WriteFile(filepath.Join(home, AddrFile), []byte(addr+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(home, AddrFile))
	fmt.Fprintf(e.stdout, "kith daemon %s listening on %s\n", key.ID(), addr)
	if *once {
		return node.SyncAll(e.ctx)
	}
	node.Follow(e.ctx)
	return nil
}
