package natlab

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// uplink returns the internet router's end of the link the named node's traffic
// crosses (a home host's is its outermost NAT's).
func (l *Lab) uplink(name string) (string, error) {
	n := l.nodes[name]
	if n == nil || n.link == 0 {
		return "", fmt.Errorf("natlab: no node %q with an internet link", name)
	}
	return "n" + strconv.Itoa(n.link), nil
}

// SetNetem sets delay, jitter and loss on the internet link of the named node (a
// home host means its outermost NAT's link), in the direction towards the node: each
// one-way trip across the lab's internet crosses exactly one such setting. A zero
// Netem removes it. Loss is an iptables statistic rule; delay is an NFQUEUE whose
// packets a delayer of this process holds (see delay.go), so neither needs the
// kernel's netem qdisc, and the delay lasts as long as the Lab does.
func (l *Lab) SetNetem(ctx context.Context, name string, n Netem) error {
	dev, err := l.uplink(name)
	if err != nil {
		return err
	}
	inet := l.nodes["inet"]
	queue := uint16(l.nodes[name].link)
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.netem[dev]
	if old.Loss > 0 {
		if err := iptables(ctx, inet, lossRule("-D", dev, old.Loss)...); err != nil {
			return err
		}
	}
	if d := l.delayers[dev]; d != nil {
		if err := iptables(ctx, inet, delayRule("-D", dev, queue)...); err != nil {
			return err
		}
		d.Close()
		delete(l.delayers, dev)
	}
	l.netem[dev] = Netem{}
	if n.Loss > 0 {
		if err := iptables(ctx, inet, lossRule("-A", dev, n.Loss)...); err != nil {
			return err
		}
		l.netem[dev] = Netem{Loss: n.Loss}
	}
	if n.Delay > 0 {
		d, err := startDelayer(inet.NS, queue, n.Delay, n.Jitter)
		if err != nil {
			return err
		}
		if err := iptables(ctx, inet, delayRule("-A", dev, queue)...); err != nil {
			d.Close()
			return err
		}
		l.delayers[dev] = d
		l.netem[dev] = n
	}
	return nil
}

// lossRule is the iptables rule (op -A or -D) dropping loss percent of the packets
// the internet router forwards out of dev.
func lossRule(op, dev string, loss float64) []string {
	return []string{op, "FORWARD", "-o", dev, "-m", "statistic", "--mode", "random",
		"--probability", strconv.FormatFloat(loss/100, 'f', -1, 64), "-j", "DROP"}
}

// delayRule is the iptables rule (op -A or -D) queueing the packets the internet
// router forwards out of dev to the delayer. With --queue-bypass, packets pass
// undelayed when no delayer listens, instead of being dropped.
func delayRule(op, dev string, queue uint16) []string {
	return []string{op, "FORWARD", "-o", dev, "-j", "NFQUEUE", "--queue-num", strconv.Itoa(int(queue)), "--queue-bypass"}
}

// stopDelayers stops every delayer of the lab.
func (l *Lab) stopDelayers() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for dev, d := range l.delayers {
		d.Close()
		delete(l.delayers, dev)
	}
}

// LinkDown cuts the internet link of the named node (a home host: its outermost
// NAT's, so the whole home goes offline): the internet router drops everything to
// and from it, as when an ISP goes down. LinkUp restores it. The devices stay up,
// so nothing waits for carrier or address resolution when the link comes back.
func (l *Lab) LinkDown(ctx context.Context, name string) error { return l.setLink(ctx, name, "-I") }

// LinkUp restores a link cut by LinkDown.
func (l *Lab) LinkUp(ctx context.Context, name string) error { return l.setLink(ctx, name, "-D") }

func (l *Lab) setLink(ctx context.Context, name, op string) error {
	dev, err := l.uplink(name)
	if err != nil {
		return err
	}
	inet := l.nodes["inet"]
	for _, dir := range []string{"-i", "-o"} {
		if err := iptables(ctx, inet, op, "FORWARD", dir, dev, "-j", "DROP"); err != nil {
			return err
		}
	}
	return nil
}

// SetUDPTimeout sets the conntrack UDP timeouts (unreplied and stream) in every NAT
// router and CGN of the lab, rounded up to whole seconds.
func (l *Lab) SetUDPTimeout(d time.Duration) error {
	secs := strconv.Itoa(int((d + time.Second - 1) / time.Second))
	for name, n := range l.nodes {
		if !strings.HasSuffix(name, "-nat") && !strings.HasSuffix(name, "-cgn") {
			continue
		}
		for _, key := range []string{"net.netfilter.nf_conntrack_udp_timeout", "net.netfilter.nf_conntrack_udp_timeout_stream"} {
			if err := n.Sysctl(key, secs); err != nil {
				return err
			}
		}
	}
	return nil
}

// Conntrack lists the UDP conntrack entries of the named node (a NAT), as
// `conntrack -L -p udp` prints them. It needs the conntrack tool.
func (l *Lab) Conntrack(ctx context.Context, name string) (string, error) {
	n := l.nodes[name]
	if n == nil {
		return "", fmt.Errorf("natlab: no node %q", name)
	}
	return n.Exec(ctx, "conntrack", "-L", "-p", "udp")
}

// FlushConntrack forgets every conntrack entry of the named node (a NAT), as a
// router reboot would: existing mappings and their filters are gone.
func (l *Lab) FlushConntrack(ctx context.Context, name string) error {
	n := l.nodes[name]
	if n == nil {
		return fmt.Errorf("natlab: no node %q", name)
	}
	_, err := n.Exec(ctx, "conntrack", "-F")
	return err
}
