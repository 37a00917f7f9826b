package natlab

import "context"

// firewall gives a router of home h its input firewall (dropUnsolicited), unless the
// home asks for none (Home.NoInputFirewall): plain MASQUERADE then confirms a conntrack
// entry for every unsolicited datagram to the router's public address, which is how a
// caller's early punch spoils the callee's mapping on such routers (issue 20).
func firewall(ctx context.Context, h Home, n *Node) error {
	if h.NoInputFirewall {
		return nil
	}
	return dropUnsolicited(ctx, n)
}

// Conntrack lists the router's conntrack entries (`conntrack -L` in its namespace),
// one per line.
func (n *Node) Conntrack(ctx context.Context) (string, error) {
	return n.Exec(ctx, "conntrack", "-L")
}
