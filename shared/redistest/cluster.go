package redistest

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kithnet/kith/shared/testenv"
)

// busOffset is where Redis Cluster puts a node's bus port: its port + 10000.
const busOffset = 10000

// Cluster is a running six-node Redis Cluster: three masters, three replicas.
type Cluster struct {
	t     testing.TB
	Nodes []*Server
}

// StartCluster starts a six-node cluster for t, waits until every slot is served and
// every replica's link to its master is up, and stops all nodes when t ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	cli := testenv.Command(t, "redis-cli", "redis-tools")
	c := &Cluster{t: t}
	for range 6 {
		c.Nodes = append(c.Nodes, start(t, freePort(t, busOffset),
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--repl-diskless-sync-delay", "0"))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	if !waitFor(context.Background(), 30*time.Second, c.Healthy) {
		t.Fatal("redistest: cluster did not become healthy (all slots served, replicas linked) in 30s")
	}
	return c
}

// Addrs lists every node's host:port.
func (c *Cluster) Addrs() []string {
	var addrs []string
	for _, n := range c.Nodes {
		addrs = append(addrs, n.Addr())
	}
	return addrs
}

// Healthy reports whether every running node sees cluster_state:ok and every running
// replica's link to its master is up, as a failover test needs before it kills a master.
func (c *Cluster) Healthy() bool {
	for _, n := range c.Nodes {
		if n.cmd == nil {
			continue
		}
		info, err := n.Do("CLUSTER", "INFO")
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return false
		}
		role, err := n.Info("role")
		if err != nil {
			return false
		}
		if role == "slave" {
			if link, _ := n.Info("master_link_status"); link != "up" {
				return false
			}
		}
	}
	return true
}

// Masters returns the indexes of the nodes that are masters now.
func (c *Cluster) Masters() []int {
	var idx []int
	for i, n := range c.Nodes {
		if n.cmd == nil {
			continue
		}
		if role, err := n.Info("role"); err == nil && role == "master" {
			idx = append(idx, i)
		}
	}
	return idx
}

// KillMaster kills one master and returns its index; a replica should take over.
func (c *Cluster) KillMaster() int {
	c.t.Helper()
	m := c.Masters()
	if len(m) == 0 {
		c.t.Fatal("redistest: no master to kill")
	}
	c.Nodes[m[0]].Stop()
	return m[0]
}

// WaitHealthy waits until the cluster is healthy again (after a failover), or fails t.
func (c *Cluster) WaitHealthy(timeout time.Duration) {
	c.t.Helper()
	if !waitFor(context.Background(), timeout, c.Healthy) {
		c.t.Fatalf("redistest: cluster not healthy after %v", timeout)
	}
}

// Port returns node i's port.
func (c *Cluster) Port(i int) string { return strconv.Itoa(c.Nodes[i].port) }

// WaitReplicated waits until every running replica has applied everything its master
// has: replication is asynchronous, so writes made just before a master dies may be lost
// unless a test waits for this first.
func (c *Cluster) WaitReplicated(timeout time.Duration) {
	c.t.Helper()
	offsets := func() bool {
		for _, n := range c.Nodes {
			if n.cmd == nil {
				continue
			}
			if role, _ := n.Info("role"); role != "slave" {
				continue
			}
			port, err1 := n.Info("master_port")
			got, err2 := n.Info("slave_repl_offset")
			if err1 != nil || err2 != nil {
				return false
			}
			m := c.byPort(port)
			if m == nil {
				return false
			}
			want, err := m.Info("master_repl_offset")
			if err != nil || want != got {
				return false
			}
		}
		return true
	}
	if !waitFor(context.Background(), timeout, offsets) {
		c.t.Fatalf("redistest: replicas did not catch up with their masters in %v", timeout)
	}
}

func (c *Cluster) byPort(port string) *Server {
	for _, n := range c.Nodes {
		if strconv.Itoa(n.port) == port && n.cmd != nil {
			return n
		}
	}
	return nil
}
