// Command kith is a person's kith node: the daemon that keeps their posts and syncs them
// with friends, and the commands that talk to it.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `kith: share posts, photos and status updates with your friends, peer to peer.

Usage:
  kith [--home DIR] COMMAND [arguments]

Run 'kith COMMAND --help' for a command's own help.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "kith: unknown command %q\n\n%s", args[0], usage)
	return 2
}
