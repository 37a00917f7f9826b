package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/kithnet/kith/peer/backup"
	"github.com/kithnet/kith/peer/device"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// The person's devices (issue 16): `kith device add|ls|rm` and `kith init --join`.

// JoinConfig is what `kith init --join` was asked for.
type JoinConfig struct {
	// Home is the new device's home directory.
	Home string
	// Code is the join code `kith device add` printed on the other device.
	Code device.Code
	// Addr is the other device's HOST:PORT (direct mode); empty: through Rendezvous.
	Addr string
	// Rendezvous are the rendezvous servers (--rendezvous or $KITH_RENDEZVOUS).
	Rendezvous []string
	// AtRest, when set, returns the passphrase that encrypts the device key in the
	// home (empty: stored plain), as InitConfig.AtRest does the identity key; asked
	// before anything is fetched. ScryptWorkFactor is its cost; 0 is the default.
	AtRest           func() ([]byte, error)
	ScryptWorkFactor int
}

// JoinResult is what joined: the person's ID, the device's name and key fingerprint.
type JoinResult struct {
	ID, Name, Fingerprint string
}

func deviceCommands() []*command {
	return []*command{
		{name: "device add", args: "NAME [--valid DURATION]", summary: "add a device of yours: print a one-time join code and wait", run: runDeviceAdd, help: `
Prints a one-time join code for a new device called NAME (valid 10 minutes) and waits
until the device joins with 'kith init --join CODE' (Ctrl-C withdraws the code). Runs
on the device that holds your identity key (the one 'kith init' made). The new device
gets its own key, certified by your identity, and a copy of your friends, groups,
posts, attachments, profile and settings; your friends still see one person.

  --valid DURATION  how long the code may be used, e.g. 2m or 90s (default 10m; more
                    than 0 and at most 10m): when you join the new device at once, a
                    shorter time leaves a code seen over your shoulder less time to work`},
		{name: "device ls", args: "[--json]", summary: "list your devices", run: runDeviceLs, help: `
Lists your devices: name, key fingerprint, when this device last heard from it, and
whether it is connected now. The device you are on is marked with *.

  --json  {"devices":[{"name","fingerprint","last_seen","online","this"}]}
          (last_seen: RFC 3339, empty when never)`},
		{name: "device rm", args: "NAME", summary: "revoke a device of yours", run: runDeviceRm, help: `
Revokes the device called NAME: your friends refuse anything it signs from now on, it
stops receiving your private posts, and your other devices stop syncing with it. You
cannot remove the device you are on. A revoked device keeps what it held; a stolen one
could sign posts dated before the revocation, which friends who learned of the
revocation already refuse.`},
	}
}

func runDeviceAdd(ctx context.Context, c *call) error {
	fs := newFlags("device add")
	valid := fs.Duration("valid", device.CodeTTL, "")
	pos, err := parse(fs, c.args, 1, 1)
	if err != nil {
		return err
	}
	if err := device.CheckName(pos[0]); err != nil {
		return usagef("device name %q: %v", pos[0], err)
	}
	if err := device.CheckValid(*valid); err != nil {
		return usagef("--valid %v: %v", *valid, device.ErrValidity)
	}
	req := &localv1.AddDeviceRequest{Name: pos[0]}
	if *valid != device.CodeTTL {
		req.ValidMs = max(valid.Milliseconds(), 1)
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		stream, err := cl.AddDevice(ctx, req)
		if err != nil {
			return err
		}
		first, err := stream.Recv()
		if err != nil {
			return err
		}
		fmt.Fprintln(c.env.Stdout, first.GetCode())
		fmt.Fprintf(c.env.Stderr, "kith: on the new device run 'kith --home DIR init --join %s' (add --addr HOST:PORT of this device in direct mode); the code works once, until %s; waiting...\n",
			first.GetCode(), time.UnixMilli(first.GetExpiresUnixMs()).Format("15:04:05"))
		joined, err := stream.Recv()
		if err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "device %s joined (key %s)\n", pos[0], joined.GetFingerprint())
		return nil
	})
}

type devicesJSON struct {
	Devices []deviceJSON `json:"devices"`
}

type deviceJSON struct {
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	LastSeen    string `json:"last_seen"`
	Online      bool   `json:"online"`
	This        bool   `json:"this"`
}

func runDeviceLs(ctx context.Context, c *call) error {
	fs := newFlags("device ls")
	asJSON := fs.Bool("json", false, "")
	if _, err := parse(fs, c.args, 0, 0); err != nil {
		return err
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		resp, err := cl.ListDevices(ctx, &localv1.ListDevicesRequest{})
		if err != nil {
			return err
		}
		out := devicesJSON{Devices: []deviceJSON{}}
		for _, d := range resp.GetDevices() {
			if d.GetRevoked() {
				continue
			}
			seen := ""
			if ms := d.GetLastSeenUnixMs(); ms > 0 {
				seen = time.UnixMilli(ms).UTC().Format(time.RFC3339)
			}
			out.Devices = append(out.Devices, deviceJSON{Name: d.GetName(), Fingerprint: d.GetFingerprint(), LastSeen: seen, Online: d.GetOnline(), This: d.GetThis()})
		}
		if *asJSON {
			return writeJSON(c.env.Stdout, out)
		}
		for _, d := range out.Devices {
			mark, state := " ", "offline"
			if d.This {
				mark = "*"
			}
			if d.Online {
				state = "online"
			}
			seen := d.LastSeen
			if seen == "" {
				seen = "never seen"
			}
			fmt.Fprintf(c.env.Stdout, "%s %-20s %s  %-7s  %s\n", mark, d.Name, d.Fingerprint, state, seen)
		}
		return nil
	})
}

func runDeviceRm(ctx context.Context, c *call) error {
	pos, err := parse(newFlags("device rm"), c.args, 1, 1)
	if err != nil {
		return err
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		if _, err := cl.RemoveDevice(ctx, &localv1.RemoveDeviceRequest{Name: pos[0]}); err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "revoked device %s; your friends refuse what it signs from now on\n", pos[0])
		return nil
	})
}

// runJoin is `kith init --join CODE`.
func runJoin(ctx context.Context, c *call, code, addr, rdv, passFile string) error {
	parsed, err := device.ParseCode(code)
	if err != nil {
		return usageError{err.Error()}
	}
	if addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return usagef("--addr %q: want HOST:PORT", addr)
		}
	}
	var servers []string
	if rdv != "" && rdv != "none" {
		servers = splitList(rdv)
	}
	if addr == "" && len(servers) == 0 {
		return usagef("init --join: give --addr HOST:PORT of the device that made the code, or --rendezvous (or set KITH_RENDEZVOUS)")
	}
	if c.env.Join == nil {
		return errors.New("init --join is not available in this build")
	}
	encrypted := false
	cfg := JoinConfig{Home: c.home, Code: parsed, Addr: addr, Rendezvous: servers, ScryptWorkFactor: backup.WorkFactor(),
		AtRest: func() ([]byte, error) {
			p, err := c.atRestPassphrase(passFile)
			encrypted = len(p) > 0
			return p, err
		}}
	fmt.Fprintf(c.env.Stderr, "kith: joining %s...\n", parsed.Person.ID())
	res, err := c.env.Join(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.env.Stdout, res.ID)
	if encrypted {
		fmt.Fprintf(c.env.Stderr, "kith: this device's key is encrypted on this disk; the daemon asks for its passphrase (or reads --passphrase-file)\n")
	} else {
		fmt.Fprintf(c.env.Stderr, "kith: this device's key is stored unencrypted in %s (protect it with 'kith init --join CODE --passphrase-file FILE', or run init in a terminal)\n", c.home)
	}
	fmt.Fprintf(c.env.Stderr, "kith: this home is now device %q (key %s) of %s; start it with 'kith --home %s daemon'\n", res.Name, res.Fingerprint, res.ID, c.home)
	return nil
}
