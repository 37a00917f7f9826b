package portmap

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// routeFile is the calling thread's IPv4 routing table (thread-self: a thread that
// joined another network namespace reads that namespace's table).
const routeFile = "/proc/thread-self/net/route"

// defaultGateway reads the default IPv4 gateway from the routing table.
func defaultGateway() (netip.Addr, error) {
	b, err := os.ReadFile(routeFile)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("portmap: read routes: %w", err)
	}
	return parseRoutes(b)
}

// parseRoutes finds the default route's gateway in the text of /proc/net/route: the
// first line with destination 0, mask 0 and the gateway flag, lowest metric.
func parseRoutes(b []byte) (netip.Addr, error) {
	const rtfUp, rtfGateway = 0x1, 0x2
	var best netip.Addr
	bestMetric := -1
	sc := bufio.NewScanner(bytes.NewReader(b))
	for first := true; sc.Scan(); first = false {
		f := strings.Fields(sc.Text())
		if first || len(f) < 8 {
			continue // the header, or a line we do not understand
		}
		flags, err1 := strconv.ParseUint(f[3], 16, 16)
		metric, err2 := strconv.Atoi(f[6])
		if err1 != nil || err2 != nil || f[1] != "00000000" || f[7] != "00000000" || flags&(rtfUp|rtfGateway) != rtfUp|rtfGateway {
			continue
		}
		raw, err := hex.DecodeString(f[2])
		if err != nil || len(raw) != 4 {
			continue
		}
		// The kernel prints the address in host byte order: little-endian here.
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], binary.LittleEndian.Uint32(raw))
		gw := netip.AddrFrom4(a)
		if gw.IsUnspecified() || metric < 0 {
			continue
		}
		if bestMetric < 0 || metric < bestMetric {
			best, bestMetric = gw, metric
		}
	}
	if !best.IsValid() {
		return netip.Addr{}, ErrNoGateway
	}
	return best, nil
}
