// Command kith-rendezvous is the matchmaker a community hosts for kith peers: it maps
// key fingerprints to signed endpoint records, relays connection offers between peers,
// and runs STUN/TURN as the fallback relay. It never sees content.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `kith-rendezvous: the matchmaker a community hosts for kith peers.

It maps public-key fingerprints to endpoint records that the peers sign themselves,
delivers connection offers so two peers can punch through their NATs at the same time,
and runs STUN and TURN for peers that need a relay. It never sees posts, and peers never
trust it for authenticity: everything it returns is signed by the peer it describes.

Usage:
  kith-rendezvous [flags]

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kith-rendezvous", flag.ContinueOnError)
	fs.SetOutput(stderr)
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, usage)
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	fs.Usage = func() {} // flag calls it on every parse error; we print once below
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return 0
		}
		printUsage(stderr)
		return 2
	}
	fmt.Fprintln(stderr, "kith-rendezvous: the service is not built yet (issue 4)")
	return 1
}
