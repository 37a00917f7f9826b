// Command natlab brings the NAT lab of deploy/natlab up or down by hand, for
// exploring it with `ip netns exec` or running kith binaries inside it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kithnet/kith/shared/natlab"
)

const usage = `usage: natlab up|down [-prefix P] [-udp-timeout D] [-loss PCT] [-delay D]

  up     build the standard lab (two homes of every NAT kind, a rendezvous host "rv"
         and a stranger "x"); with -delay it stays in the foreground, because this
         process delays the packets, and removes the lab on Ctrl-C
  down   remove every namespace whose name starts with the prefix
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("natlab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	prefix := fs.String("prefix", "natlab-manual-", "namespace name prefix (never the natlab-<pid>- form tests use)")
	timeout := fs.Duration("udp-timeout", 0, "conntrack UDP timeout in every NAT (0: kernel default)")
	loss := fs.Float64("loss", 0, "percentage of packets lost towards every internet node")
	delay := fs.Duration("delay", 0, "delay towards every internet node (keeps natlab in the foreground)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	ctx := context.Background()
	cfg := natlab.Standard()
	cfg.UDPTimeout = *timeout
	cfg.Netem.Loss = *loss
	cfg.Netem.Delay = *delay
	switch args[0] {
	case "up":
		start := time.Now()
		lab, err := natlab.Build(ctx, *prefix, cfg)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "lab up in %v; remove it with: natlab down -prefix %s\n", time.Since(start).Round(time.Millisecond), *prefix)
		for _, name := range lab.Names() {
			n := lab.Node(name)
			fmt.Fprintf(stdout, "%-10s %-32s addr %-15s public %s\n", name, n.NS, n.Addr, n.Public)
		}
		if *delay > 0 {
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			fmt.Fprintln(stdout, "delaying packets; Ctrl-C removes the lab")
			<-ctx.Done()
			if err := lab.Close(context.Background()); err != nil {
				fmt.Fprintln(stderr, err)
				return 1
			}
		}
	case "down":
		if err := natlab.RemoveNamespaces(ctx, *prefix); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}
	return 0
}
