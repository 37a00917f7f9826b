// Command kith is a person's kith node: the daemon that keeps their posts and syncs them
// with friends, and the commands that talk to it.
//
// Until the local API lands (issue 7), commands other than daemon open the store
// directly, so they work only while no daemon runs on the same home.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `kith: share posts, photos and status updates with your friends, peer to peer.

Usage:
  kith [--home DIR] COMMAND [arguments]

Commands:
  init [--name NAME]                    create a new identity in the home
  id                                    print my ID
  daemon [--listen ADDR]                run the node: serve friends, pull their posts
  friend add ID [--name N] [--addr HOST:PORT] [--group G]...
  friend ls | friend rm ID
  group ls | group add NAME ID... | group rm NAME ID...
  post [--to me|friends|public|GROUP|NAME|ID]... [--attach FILE]... TEXT
  edit POST_ID TEXT | rm POST_ID

The home is --home, else $KITH_HOME, else ~/.kith.
Run 'kith COMMAND --help' for a command's own help.
`

// exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// errUsage marks a mistake in the command line.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// env is what a command runs with.
type env struct {
	ctx    context.Context
	home   string
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("kith", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	home := fs.String("home", "", "home directory")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	args = fs.Args()
	e := &env{ctx: ctx, home: *home, stdout: stdout, stderr: stderr, getenv: getenv}
	cmds := map[string]func(*env, []string) error{
		"init": cmdInit, "id": cmdID, "daemon": cmdDaemon, "friend": cmdFriend,
		"group": cmdGroup, "post": cmdPost, "edit": cmdEdit, "rm": cmdRm,
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "kith: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	err := cmd(e, args[1:])
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "kith %s: %v\n", args[0], err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "kith %s: %v\n", args[0], err)
	return exitError
}

// flags returns a FlagSet for a subcommand that prints its help on --help.
func (e *env) flags(name, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("kith "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stdout, "Usage: kith %s\n", help)
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
	}
	return fs
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return fmt.Sprint(*l) }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }
