// Command kith is a person's kith node: the daemon that keeps their posts and syncs them
// with friends, and the commands that talk to it. Run `kith --help`.
package main

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/kithnet/kith/peer/cli"
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
	}
	os.Exit(cli.Run(context.Background(), os.Args[1:], env))
}
