// Package crawltest runs kith peers in-process for tests of crawlers: a real store and a
// real sync server on the kith transport, optionally one that tampers with what it serves.
package crawltest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"

	"google.golang.org/grpc"

	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/syncer"
	"github.com/kithnet/kith/peer/transport"
	signedv1 "github.com/kithnet/kith/proto/kith/signed/v1"
	syncv1 "github.com/kithnet/kith/proto/kith/sync/v1"
	"github.com/kithnet/kith/shared/identity"
)

// Peer is a running in-process peer.
type Peer struct {
	// Key is the peer's identity.
	Key *identity.Key
	// Store is its home, for the test to post into.
	Store *store.Store
	// Addr is where its sync server listens (UDP, loopback).
	Addr net.Addr

	srv  *grpc.Server
	tr   *transport.Transport
	pc   net.PacketConn
	done chan struct{}
}

// Config says what kind of peer to run.
type Config struct {
	// Home is the store's directory (a new identity is made in it).
	Home string
	// Tamper makes GetPosts flip a bit of every signature it serves: a peer whose posts
	// do not verify.
	Tamper bool
	// NoSync skips fsync in the store (benchmarks).
	NoSync bool
}

// Start makes an identity in cfg.Home and serves it on 127.0.0.1.
func Start(cfg Config) (*Peer, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(store.Config{Home: cfg.Home, Logger: log, NoSync: cfg.NoSync})
	if err != nil {
		return nil, err
	}
	key, err := identity.Generate(nil)
	if err == nil {
		err = st.Init(key, "")
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		return nil, err
	}
	tr, err := transport.New(transport.Config{Key: key, PacketConn: pc, Logger: log})
	if err != nil {
		pc.Close()
		st.Close()
		return nil, err
	}
	ln, err := tr.Listen()
	if err != nil {
		tr.Close()
		pc.Close()
		st.Close()
		return nil, err
	}
	var svc syncv1.SyncServiceServer = syncer.NewServer(st, log)
	if cfg.Tamper {
		svc = tamperer{svc}
	}
	p := &Peer{Key: key, Store: st, Addr: pc.LocalAddr(), tr: tr, pc: pc, done: make(chan struct{}),
		srv: grpc.NewServer(grpc.Creds(transport.Credentials()))}
	syncv1.RegisterSyncServiceServer(p.srv, svc)
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			log.Error("serve", "err", err)
		}
	}()
	return p, nil
}

// Close stops the server and waits for it, then closes the store.
func (p *Peer) Close() error {
	p.srv.Stop()
	p.tr.Close()
	p.pc.Close()
	<-p.done
	return p.Store.Close()
}

// tamperer is a sync server that breaks the signatures of the posts it serves.
type tamperer struct {
	syncv1.SyncServiceServer
}

func (t tamperer) GetPosts(ctx context.Context, req *syncv1.GetPostsRequest) (*syncv1.GetPostsResponse, error) {
	resp, err := t.SyncServiceServer.GetPosts(ctx, req)
	if err != nil {
		return nil, err
	}
	out := &syncv1.GetPostsResponse{}
	for _, e := range resp.GetPosts() {
		sig := append([]byte(nil), e.GetSignature()...)
		if len(sig) > 0 {
			sig[0] ^= 1
		}
		out.Posts = append(out.Posts, &signedv1.Envelope{Signer: e.GetSigner(), Payload: e.GetPayload(), Signature: sig})
	}
	return out, nil
}
