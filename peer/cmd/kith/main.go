// Command kith is a person's kith node: the daemon that keeps their posts and syncs them
// with friends, and the commands that talk to it. Run `kith --help`.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"golang.org/x/term"

	"github.com/kithnet/kith/peer/cli"
	"github.com/kithnet/kith/peer/daemon"
	"github.com/kithnet/kith/peer/reach"
	"github.com/kithnet/kith/peer/store"
	"github.com/kithnet/kith/shared/identity"
)

func main() {
	env := cli.Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv:     os.Getenv,
		IsTerminal: term.IsTerminal,
		ReadPassword: func(prompt string) ([]byte, error) {
			fmt.Fprint(os.Stderr, prompt)
			defer fmt.Fprintln(os.Stderr)
			return term.ReadPassword(int(os.Stdin.Fd()))
		},
		Daemon: func(ctx context.Context, c cli.DaemonConfig) error {
			return daemon.Run(ctx, daemon.RunConfig{Home: c.Home, Listen: c.Listen, Socket: cli.SocketPath(c.Home),
				Rendezvous: c.Rendezvous, PublicHTTP: c.PublicHTTP, PublicTLSCert: c.PublicTLSCert,
				PublicTLSKey: c.PublicTLSKey, PublicNoIndex: c.PublicNoIndex, PublicURL: c.PublicURL, Batch: c.Batch,
				UI: c.UI, UITLSCert: c.UITLSCert, UITLSKey: c.UITLSKey, UIPassword: c.UIPassword,
				KeepAlive: c.KeepAlive, NoFollow: c.NoFollow, Passphrase: c.Passphrase,
				RendezvousCA: c.RendezvousCA, PublishAddresses: c.PublishAddresses, NoPortMap: c.NoPortMap,
				Carry:  store.CarryPolicy{Off: c.CarryOff, Quota: c.CarryQuota, Retention: c.CarryRetention},
				Logger: logger(c.LogLevel)})
		},
		Init: func(ctx context.Context, c cli.InitConfig) (string, error) {
			id, err := daemon.Init(daemon.InitConfig{Home: c.Home, Name: c.Name, KeyFile: c.KeyFile, Passphrase: c.Passphrase,
				AtRest: c.AtRest, ScryptWorkFactor: c.ScryptWorkFactor})
			return string(id), err
		},
		Join: func(ctx context.Context, c cli.JoinConfig) (cli.JoinResult, error) {
			r, err := daemon.Join(ctx, daemon.JoinConfig{Home: c.Home, Code: c.Code, Addr: c.Addr, Rendezvous: c.Rendezvous, Logger: logger("warn"),
				AtRest: c.AtRest, ScryptWorkFactor: c.ScryptWorkFactor})
			return cli.JoinResult{ID: string(r.ID), Name: r.Name, Fingerprint: string(r.Fingerprint)}, err
		},
		Stranger: func(key *identity.Key, servers []string, listen string, log *slog.Logger) (cli.StrangerDialer, error) {
			return reach.StartStranger(key, servers, listen, log)
		},
		LocalID: func(home string) (string, error) {
			id, err := daemon.LocalID(home)
			return string(id), err
		},
		Import: func(ctx context.Context, home, snapshot string) error { return daemon.Import(home, snapshot) },
	}
	os.Exit(cli.Run(context.Background(), os.Args[1:], env))
}

// logger writes text logs to stderr at level ("debug", "info", "warn" or "error").
func logger(level string) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level)) // the CLI has checked it
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
