// Package natlab builds a NAT lab out of real network namespaces, veth pairs and
// iptables for tests: an "internet" router, hosts with public addresses on it, and home
// networks behind NATs of the kinds peers meet in the wild (port-restricted, full cone,
// symmetric, double NAT, several hosts behind one NAT).
//
// Every namespace a lab makes is named natlab-<pid>-<random>-<node>, removed when the
// test ends (also when it fails), and removed by the next lab if the process that made
// it died. Traffic never leaves the lab: the internet router has no route out, and all
// addresses live inside the namespaces. See deploy/natlab/README.md for the topology.
package natlab
