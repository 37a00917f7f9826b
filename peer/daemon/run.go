package daemon

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/kithnet/kith/peer/nat"
	"github.com/kithnet/kith/peer/portmap"
	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/reach"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/peer/ui"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	"github.com/kithnet/kith/shared/identity"
)

// DefaultListen is the UDP address a daemon listens on when not told otherwise.
const DefaultListen = ":4700"

// RunConfig is what `kith daemon` was asked for.
type RunConfig struct {
	// Home is the home directory.
	Home string
	// Listen is the UDP address for QUIC; DefaultListen when empty.
	Listen string
	// Socket is the unix socket path for the local API (the CLI decides where it lives).
	Socket string
	// Rendezvous lists rendezvous servers (HOST:PORT or tls://HOST:PORT); empty is
	// direct mode.
	Rendezvous []string
	// RendezvousCA is a PEM file of certificates verifying tls:// rendezvous servers;
	// empty: the system roots.
	RendezvousCA string
	// PublishAddresses publishes the node's candidates in plain, for strangers, while
	// the person has a public post (reach.Config.PublishAddresses).
	PublishAddresses bool
	// NoPortMap turns off asking the router for a port mapping (PCP, NAT-PMP, UPnP-IGD;
	// peer/portmap). It is never asked for a socket bound to loopback.
	NoPortMap bool
	// PublicHTTP is the address of the public HTTP face (public posts only); empty: off.
	PublicHTTP string
	// PublicTLSCert and PublicTLSKey serve the public face over TLS when both are set.
	PublicTLSCert, PublicTLSKey string
	// PublicNoIndex asks search engines not to index the public face.
	PublicNoIndex bool
	// PublicURL is the public face's origin (public.Config.BaseURL); empty: relative links.
	PublicURL string
	// Batch is how many changes one pull step asks for; 0 is the server's default.
	Batch int
	// UI is the address of the local web app (peer/ui); empty: off.
	UI string
	// UITLSCert, UITLSKey and UIPassword are required when UI is beyond loopback.
	UITLSCert, UITLSKey, UIPassword string
	// KeepAlive is how often idle connections and NAT mappings get a packet; 15 s when zero.
	KeepAlive time.Duration
	// NoFollow keeps no connections to friends open: only explicit syncs pull.
	NoFollow bool
	// Carry is what the node carries, sealed, for friends (Config.Carry).
	Carry store.CarryPolicy
	// Logger receives the daemon's logs; slog.Default() when nil.
	Logger *slog.Logger
	// Passphrase returns the passphrase of an identity key encrypted at rest; it is asked
	// only when the key is encrypted.
	Passphrase func() ([]byte, error)
}

// Run runs a node on a home until ctx ends: the sync service on UDP, the local API on
// <home>/kith.sock, and pullers following every friend.
func Run(ctx context.Context, cfg RunConfig) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if err := hasStore(cfg.Home); err != nil {
		return err
	}
	st, err := store.Open(store.Config{Home: cfg.Home, Logger: log})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("a kith daemon is already running for %s (only one may use a home at a time)", cfg.Home)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	if err := unlock(st, cfg); err != nil {
		return err
	}
	key, err := st.Self()
	if errors.Is(err, store.ErrNoIdentity) {
		return fmt.Errorf("no identity in %s yet: run 'kith --home %s init' first", cfg.Home, cfg.Home)
	}
	if err != nil {
		return err
	}
	laddr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	udp, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (pick another with --listen)", cfg.Listen, err)
	}
	defer udp.Close()
	synced, pulled := NewSyncTimes(nil), ui.NewSignal()
	ncfg := Config{Store: st, PacketConn: udp, Logger: log, KeepAlive: cfg.KeepAlive, BatchSize: cfg.Batch, Carry: cfg.Carry,
		Progress: func(friend identity.PublicKey, step store.Applied, cursor uint64) {
			synced.Step(friend.ID(), step.Stored, cursor)
			log.Debug("pull step", "friend", friend.ID(), "cursor", cursor, "stored", step.Stored, "dropped", step.Dropped)
			if step.Stored+step.Dropped > 0 {
				pulled.Notify()
			}
		}}
	if len(cfg.Rendezvous) > 0 {
		// One socket carries STUN, punching, TURN and QUIC; the mux sorts them.
		mux := nat.NewMux(udp, nat.MuxConfig{Logger: log})
		defer mux.Close()
		ncfg.PacketConn = mux.PacketConn()
		roots, err := loadCA(cfg.RendezvousCA)
		if err != nil {
			return err
		}
		ncfg.Reach = &reach.Config{Mux: mux, Servers: cfg.Rendezvous, KeepAlive: cfg.KeepAlive,
			RootCAs: roots, PublishAddresses: cfg.PublishAddresses}
		if local := udp.LocalAddr().(*net.UDPAddr); !cfg.NoPortMap && !local.IP.IsLoopback() {
			// In the background: a router without any of the protocols costs at most a
			// couple of seconds, and the mapped address is published once it exists.
			pm := portmap.Start(ctx, portmap.Config{Port: uint16(local.Port), Logger: log})
			defer pm.Close() // releases the mapping on exit
			ncfg.Reach.PortMapper = pm
		}
	}
	node, err := Start(ncfg)
	if err != nil {
		return err
	}
	defer node.Close()

	sock := cfg.Socket
	os.Remove(sock) // a stale socket of a crashed daemon: we hold the store's lock, so no daemon owns it
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("local socket %s: %w", sock, err)
	}
	defer os.Remove(sock)
	if err := os.Chmod(sock, 0o600); err != nil {
		return fmt.Errorf("local socket %s: %w", sock, err)
	}
	srv := grpc.NewServer()
	local := NewLocal(st, node, synced, nil)
	localv1.RegisterLocalServiceServer(srv, local)
	localv1.RegisterConversationServiceServer(srv, NewConversation(local))

	var publicLn net.Listener
	var publicHandler http.Handler
	if cfg.PublicHTTP != "" {
		if publicHandler, err = public.NewHandler(public.Config{Source: NewPublicSource(st), Logger: log, NoIndex: cfg.PublicNoIndex, BaseURL: cfg.PublicURL}); err != nil {
			return err
		}
		if publicLn, err = net.Listen("tcp", cfg.PublicHTTP); err != nil {
			return fmt.Errorf("--public-http %s: %w", cfg.PublicHTTP, err)
		}
	}
	web, err := listenUI(cfg, local, st, pulled, log)
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	fctx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	wg.Add(2)
	go func() { defer wg.Done(); node.Traverse(fctx) }()
	if !cfg.NoFollow {
		wg.Add(2)
		go func() { defer wg.Done(); node.Follow(fctx) }()
		go func() { defer wg.Done(); node.FollowDevices(fctx) }()
	}
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			log.Error("local API stopped", "err", err)
		}
	}()
	if publicLn != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv := public.NewServer(publicLn.Addr().String(), publicHandler)
			if err := public.ServeListener(fctx, publicLn, srv, cfg.PublicTLSCert, cfg.PublicTLSKey); err != nil {
				log.Error("public HTTP face stopped", "err", err)
			}
		}()
		log.Info("serving public posts over HTTP", "addr", publicLn.Addr().String(), "tls", cfg.PublicTLSCert != "")
	}
	if web != nil {
		wg.Add(1)
		go func() { defer wg.Done(); web.Serve(fctx) }()
	}
	log.Info("kith daemon ready", "id", key.ID(), "listen", node.Addr().String(), "socket", sock, "rendezvous", cfg.Rendezvous)
	<-ctx.Done()
	log.Info("kith daemon stopping")
	srv.GracefulStop()
	stopFollow()
	return nil
}

// unlock decrypts the home's key encrypted at rest (the identity's, or a joined
// device's own) with the passphrase cfg gives.
func unlock(st *store.Store, cfg RunConfig) error {
	enc, err := st.KeyEncrypted()
	if err != nil || !enc {
		return err
	}
	if cfg.Passphrase == nil {
		return fmt.Errorf("the key in %s is encrypted and no passphrase was given", cfg.Home)
	}
	pass, err := cfg.Passphrase()
	if err != nil {
		return err
	}
	if err := st.Unlock(pass); err != nil {
		if errors.Is(err, identity.ErrWrongPassphrase) {
			return fmt.Errorf("wrong passphrase for the key in %s; nothing was changed", cfg.Home)
		}
		return err
	}
	return nil
}

// InitConfig is what `kith init` was asked for.
type InitConfig struct {
	// Home is the home directory to create.
	Home string
	// Name is the person's display name.
	Name string
	// KeyFile restores an identity from a key backup when non-empty.
	KeyFile string
	// Passphrase is asked only when KeyFile is encrypted.
	Passphrase func() ([]byte, error)
	// AtRest, when set, returns the passphrase that encrypts the key in the home (empty:
	// stored plain). ScryptWorkFactor is its cost; 0 is the default.
	AtRest           func() ([]byte, error)
	ScryptWorkFactor int
}

// Init creates a home with a new identity, or one restored from a key backup, and
// returns its ID. It never replaces an existing identity.
func Init(cfg InitConfig) (identity.ID, error) {
	var k *identity.Key
	var err error
	if cfg.KeyFile != "" {
		k, err = identity.ReadKeyFile(cfg.KeyFile, cfg.Passphrase)
	} else {
		k, err = identity.Generate(rand.Reader)
	}
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cfg.Home, 0o700); err != nil {
		return "", err
	}
	st, err := store.Open(store.Config{Home: cfg.Home, Logger: slog.New(slog.DiscardHandler)})
	if errors.Is(err, store.ErrLocked) {
		return "", fmt.Errorf("a kith daemon is running for %s; this home already has an identity", cfg.Home)
	}
	if err != nil {
		return "", err
	}
	defer st.Close()
	if old, err := st.Self(); err == nil {
		return "", fmt.Errorf("%s already has an identity (%s); use another --home", cfg.Home, old.ID())
	}
	var atRest []byte
	if cfg.AtRest != nil {
		if atRest, err = cfg.AtRest(); err != nil {
			return "", err
		}
	}
	if len(atRest) > 0 {
		err = st.InitEncrypted(k, cfg.Name, identity.KeyFileOptions{Passphrase: atRest, ScryptWorkFactor: cfg.ScryptWorkFactor})
	} else {
		err = st.Init(k, cfg.Name)
	}
	if errors.Is(err, store.ErrHasIdentity) {
		old, _ := st.Self()
		return "", fmt.Errorf("%s already has an identity (%s); use another --home", cfg.Home, old.ID())
	}
	if err != nil {
		return "", err
	}
	return k.ID(), nil
}

// Import installs a decrypted export file as the home's store.
func Import(home, snapshotPath string) error {
	f, err := os.Open(snapshotPath)
	if err != nil {
		return err
	}
	defer f.Close()
	return store.Import(home, f)
}

// LocalID reads the identity of a home whose daemon is not running.
func LocalID(home string) (identity.ID, error) {
	if err := hasStore(home); err != nil {
		return "", err
	}
	st, err := store.Open(store.Config{Home: home, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return "", err
	}
	defer st.Close()
	k, err := st.Self()
	if errors.Is(err, store.ErrNoIdentity) {
		return "", fmt.Errorf("no identity in %s yet: run 'kith --home %s init'", home, home)
	}
	if err != nil {
		return "", err
	}
	return k.ID(), nil
}

// loadCA reads a PEM file of CA certificates; nil (the system roots) when path is empty.
func loadCA(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--rendezvous-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--rendezvous-ca %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// hasStore refuses a home that 'kith init' has not made: opening the store would create
// an empty kith.db there, and a later 'kith init' would find a half-made home.
func hasStore(home string) error {
	_, err := os.Stat(filepath.Join(home, store.FileName))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no identity in %s yet: run 'kith --home %s init' first", home, home)
	}
	if err != nil {
		return fmt.Errorf("home %s: %w", home, err)
	}
	return nil
}
