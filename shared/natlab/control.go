package natlab

import (
	"context"
	"errors"
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

// ErrNoNetem says the kernel has no netem qdisc (CONFIG_NET_SCH_NETEM), so a lab
// cannot delay packets; loss still works, through iptables.
var ErrNoNetem = errors.New("natlab: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM), so links cannot be delayed")

// SetNetem sets delay, jitter and loss on the internet link of the named node (a
// home host means its outermost NAT's link), in the direction towards the node: each
// one-way trip across the lab's internet crosses exactly one such setting. A zero
// Netem removes it. Loss is an iptables statistic rule, so it works on any kernel;
// delay needs tc netem and fails with ErrNoNetem where the kernel lacks it.
func (l *Lab) SetNetem(ctx context.Context, name string, n Netem) error {
	dev, err := l.uplink(name)
	if err != nil {
		return err
	}
	inet := l.nodes["inet"]
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.netem[dev]
	if old.Loss > 0 {
		if err := iptables(ctx, inet, lossRule("-D", dev, old.Loss)...); err != nil {
			return err
		}
	}
	if old.Delay > 0 {
		if _, err := inet.Exec(ctx, "tc", "qdisc", "del", "dev", dev, "root"); err != nil {
			return err
		}
	}
	l.netem[dev] = Netem{}
	if n.Loss > 0 {
		if err := iptables(ctx, inet, lossRule("-A", dev, n.Loss)...); err != nil {
			return err
		}
		l.netem[dev] = Netem{Loss: n.Loss}
	}
	if n.Delay > 0 {
		args := []string{"qdisc", "replace", "dev", dev, "root", "netem", "limit", "10000", "delay", ms(n.Delay)}
		if n.Jitter > 0 {
			args = append(args, ms(n.Jitter))
		}
		if out, err := inet.Exec(ctx, "tc", args...); err != nil {
			if strings.Contains(out, "qdisc kind is unknown") {
				return fmt.Errorf("%w (%s)", ErrNoNetem, dev)
			}
			return err
		}
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

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64) + "ms"
}

// LinkDown cuts the internet link of the named node (a home host: its outermost
// NAT's, so the whole home goes offline). LinkUp restores it.
func (l *Lab) LinkDown(ctx context.Context, name string) error { return l.setLink(ctx, name, "down") }

// LinkUp restores a link cut by LinkDown.
func (l *Lab) LinkUp(ctx context.Context, name string) error { return l.setLink(ctx, name, "up") }

func (l *Lab) setLink(ctx context.Context, name, state string) error {
	dev, err := l.uplink(name)
	if err != nil {
		return err
	}
	_, err = l.nodes["inet"].Exec(ctx, "ip", "link", "set", dev, state)
	return err
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
