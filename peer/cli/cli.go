// Package cli is the kith command line: it parses a person's command, talks to their
// daemon over the local socket (kith.local.v1), and prints the answer for a person or,
// with --json, for a program.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kithnet/kith/shared/identity"
	"google.golang.org/grpc"
)

// Exit codes; `kith --help` documents them.
const (
	ExitOK          = 0 // done
	ExitFailure     = 1 // the command failed; the message says why
	ExitUsage       = 2 // the command line is wrong (unknown command, bad flag, malformed ID)
	ExitNoDaemon    = 3 // no daemon is running for this home
	ExitUnreachable = 4 // `kith sync`: at least one friend could not be reached
)

// Env is what a command runs with: its streams, environment and the pieces that differ
// between the real binary and a test.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv reads the environment (os.Getenv in the binary).
	Getenv func(string) string
	// Daemon runs the daemon in the foreground until ctx ends (`kith daemon`).
	Daemon func(ctx context.Context, cfg DaemonConfig) error
	// Init creates a new home with a new or restored identity (`kith init`).
	Init func(ctx context.Context, cfg InitConfig) (id string, err error)
	// Join makes a new home a device of an existing person (`kith init --join`).
	Join func(ctx context.Context, cfg JoinConfig) (JoinResult, error)
	// Stranger starts what `kith crawl --rendezvous` dials through: a node that reaches
	// peers as a stranger through rendezvous servers (punching, relays).
	Stranger func(key *identity.Key, servers []string, listen string, log *slog.Logger) (StrangerDialer, error)
	// LocalID reads the identity from a home whose daemon is not running (`kith id`).
	LocalID func(home string) (string, error)
	// Import installs a verified, decrypted store snapshot (a file in home) as the home's
	// store (`kith import`); it checks the snapshot before anything replaces anything.
	Import func(ctx context.Context, home, snapshotPath string) error
	// IsTerminal reports whether a file descriptor is a terminal (progress, prompts).
	IsTerminal func(fd int) bool
	// ReadPassword reads a passphrase from the terminal without echo.
	ReadPassword func(prompt string) ([]byte, error)
}

// StrangerDialer dials peers as a stranger; Close releases it.
type StrangerDialer interface {
	Dial(ctx context.Context, want identity.PublicKey, addr string) (*grpc.ClientConn, error)
	Close() error
}

// DaemonConfig is what `kith daemon` was asked for.
type DaemonConfig struct {
	// Home is the home directory.
	Home string
	// Listen is the UDP address for QUIC (and STUN, punching); "" means the default.
	Listen string
	// Rendezvous lists rendezvous host:port addresses; nil means direct mode ("none").
	Rendezvous []string
	// PublicHTTP is the address of the public HTTP face; empty: off.
	PublicHTTP string
	// PublicTLSCert and PublicTLSKey serve the public face over TLS.
	PublicTLSCert, PublicTLSKey string
	// PublicNoIndex asks search engines not to index the public face.
	PublicNoIndex bool
	// PublicURL is the public face's origin for absolute links (--public-url); empty:
	// links are relative.
	PublicURL string
	// Batch is how many changes one pull step asks for; 0 is the server's default.
	Batch int
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// UI is the web app's address (--ui); empty: off. UITLSCert, UITLSKey and UIPassword
	// (from KITH_UI_PASSWORD) are required beyond loopback.
	UI, UITLSCert, UITLSKey, UIPassword string
	// KeepAlive is how often idle connections and NAT mappings get a packet; 0: default.
	KeepAlive time.Duration
	// RendezvousCA is a PEM file verifying tls:// rendezvous servers; empty: system roots.
	RendezvousCA string
	// PublishAddresses publishes the candidates in plain for strangers (with a public post).
	PublishAddresses bool
	// NoPortMap turns off asking the router for a port mapping (--portmap=false).
	NoPortMap bool
	// NoFollow turns off the connections kept open to friends: only `kith sync` pulls.
	NoFollow bool
	// CarryOff turns off carrying sealed posts for friends (--carry=false).
	CarryOff bool
	// CarryQuota is the bytes of sealed posts kept per friend (--carry-quota); 0: default.
	CarryQuota uint64
	// CarryRetention is how long a carried post is kept at most (--carry-retention); 0:
	// default.
	CarryRetention time.Duration
	// Passphrase returns the passphrase of an identity key encrypted at rest (from
	// --passphrase-file or the terminal); asked only when the key is encrypted.
	Passphrase func() ([]byte, error)
}

// InitConfig is what `kith init` was asked for.
type InitConfig struct {
	// Home is the home directory to create.
	Home string
	// Name is the person's display name.
	Name string
	// KeyFile restores an identity from a key backup when non-empty.
	KeyFile string
	// Passphrase returns the key backup's passphrase, asked only if the file is encrypted.
	Passphrase func() ([]byte, error)
	// AtRest returns the passphrase that encrypts the key in the home; empty for none.
	AtRest func() ([]byte, error)
	// ScryptWorkFactor is the cost of AtRest's encryption; 0 is the default.
	ScryptWorkFactor int
}

// errNoHome means neither --home, KITH_HOME nor HOME says where the home is.
var errNoHome = errors.New("no home directory: pass --home DIR or set KITH_HOME")

// usageError is a wrong command line: exit 2, with the command's usage line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError carries an exit code other than ExitFailure.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// command is one kith subcommand.
type command struct {
	name, args, summary, help string
	run                       func(ctx context.Context, c *call) error
}

// call is one invocation: the parsed global flags and what the command needs.
type call struct {
	env  Env
	home string
	args []string
	// passFile is --passphrase-file of a command that takes a backup passphrase.
	passFile string
}

// Run runs one kith command line and returns its exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	home, rest, homeErr := globalFlags(args, env)
	if homeErr != nil && !errors.Is(homeErr, errNoHome) {
		fmt.Fprintf(env.Stderr, "kith: %v\n\n%s", homeErr, mainUsage())
		return ExitUsage
	}
	if len(rest) == 0 {
		fmt.Fprint(env.Stderr, mainUsage())
		return ExitUsage
	}
	name := rest[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		if len(rest) > 1 {
			if cmd, ok := lookup(rest[1:]); ok {
				fmt.Fprint(env.Stdout, commandUsage(cmd))
				return ExitOK
			}
		}
		fmt.Fprint(env.Stdout, mainUsage())
		return ExitOK
	}
	cmd, ok := lookup(rest)
	if subs := subcommands(name); !ok && len(subs) > 0 {
		fmt.Fprintf(env.Stderr, "kith %s: which one?\n\n", name)
		for _, c := range subs {
			fmt.Fprintf(env.Stderr, "  kith %-14s %s\n", c.name, c.summary)
		}
		fmt.Fprintf(env.Stderr, "\nRun 'kith %s --help' for one's own help.\n", subs[0].name)
		return ExitUsage
	}
	if !ok {
		fmt.Fprintf(env.Stderr, "kith: unknown command %q\n\n%s", strings.Join(rest[:min(2, len(rest))], " "), mainUsage())
		return ExitUsage
	}
	cmdArgs := rest[len(strings.Fields(cmd.name)):]
	if wantsHelp(cmdArgs) {
		fmt.Fprint(env.Stdout, commandUsage(cmd))
		return ExitOK
	}
	if homeErr != nil {
		return report(env.Stderr, cmd, homeErr)
	}
	return report(env.Stderr, cmd, cmd.run(ctx, &call{env: env, home: home, args: cmdArgs}))
}

// report prints err for a person and turns it into an exit code.
func report(w io.Writer, cmd *command, err error) int {
	if err == nil {
		return ExitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "kith %s: %v\n\nusage: kith %s %s\n", cmd.name, err, cmd.name, cmd.args)
		return ExitUsage
	}
	fmt.Fprintf(w, "kith %s: %v\n", cmd.name, err)
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitFailure
}

// globalFlags takes --home (or -home, --home=DIR) from before the command name.
func globalFlags(args []string, env Env) (string, []string, error) {
	home := ""
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "--home" || a == "-home":
			if len(args) < 2 {
				return "", nil, errors.New("--home needs a directory")
			}
			home, args = args[1], args[2:]
		case strings.HasPrefix(a, "--home=") || strings.HasPrefix(a, "-home="):
			home, args = a[strings.Index(a, "=")+1:], args[1:]
		default:
			goto done
		}
	}
done:
	if home == "" {
		home = env.Getenv("KITH_HOME")
	}
	if home == "" {
		h := env.Getenv("HOME")
		if h == "" {
			return "", args, errNoHome
		}
		home = filepath.Join(h, ".kith")
	}
	abs, err := filepath.Abs(home)
	if err != nil {
		return "", nil, fmt.Errorf("home %s: %w", home, err)
	}
	return abs, args, nil
}

func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "-h" || a == "--help" || a == "-help" {
			return true
		}
	}
	return false
}

// lookup finds the longest command name that args start with ("friend add" before "friend").
func lookup(args []string) (*command, bool) {
	var best *command
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(words) <= len(args) && strings.Join(args[:len(words)], " ") == c.name {
			if best == nil || len(words) > len(strings.Fields(best.name)) {
				best = c
			}
		}
	}
	return best, best != nil
}

// subcommands lists the commands of a group ("friend add", "friend ls", ...) by its
// first word.
func subcommands(group string) []*command {
	var out []*command
	for _, c := range commands() {
		if w := strings.Fields(c.name); len(w) > 1 && w[0] == group {
			out = append(out, c)
		}
	}
	return out
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString(`kith: share posts, photos and status updates with your friends, peer to peer.

Your posts live in one file in your home directory and go, signed, straight to the
friends you choose. Private is the default: a post goes to your friends unless you say
otherwise. 'kith daemon' runs your node; every other command talks to it.

Usage:
  kith [--home DIR] COMMAND [arguments]

--home defaults to $KITH_HOME, then ~/.kith.

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-14s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Getting started (friends find each other through a rendezvous, by ID alone):
  kith init --name Alice                       make your identity
  kith daemon --rendezvous HOST:PORT &         run your node (a community's rendezvous,
                                               or your own: kith-rendezvous --listen :7000)
  kith id                                      your ID, to give to friends
  kith friend add ID --name Bob                add a friend by the ID they gave you
  kith post "hello #kith"                      to your friends (--to public, a group, ...)
  kith sync && kith timeline
  kith ui                                      the web app

Direct mode, with no rendezvous at all: 'kith daemon --rendezvous none --listen :4700'
on both sides, and 'kith friend add ID --name Bob --addr HOST:PORT'.

Exit codes: 0 done, 1 failed, 2 wrong command line, 3 no daemon running,
4 'kith sync' could not reach a friend.
Run 'kith COMMAND --help' for a command's own help.
`)
	return b.String()
}

func commandUsage(c *command) string {
	return fmt.Sprintf("usage: kith [--home DIR] %s %s\n\n%s\n", c.name, c.args, strings.TrimSpace(c.help))
}
