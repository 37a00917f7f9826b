package cli

import (
	"context"
	"errors"
	"fmt"
	"os/exec"

	"github.com/kithnet/kith/peer/ui"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// runUI prints a one-time login link to the daemon's web app and opens a browser when
// the session has a display and xdg-open, handing it a 0600 redirect page rather than the
// link (issue 13 item 3).
func runUI(ctx context.Context, c *call) error {
	if _, err := parse(newFlags("ui"), c.args, 0, 0); err != nil {
		return err
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		if _, err := cl.Status(ctx, &localv1.StatusRequest{}); err != nil {
			return err
		}
		page, link, err := ui.LoginFile(c.home)
		if errors.Is(err, ui.ErrNoUI) {
			return fmt.Errorf("the daemon for %s runs without its web app (started with --ui off, or its address was busy: see its log)", c.home)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(c.env.Stdout, link)
		if c.env.Getenv("DISPLAY") == "" && c.env.Getenv("WAYLAND_DISPLAY") == "" {
			return nil
		}
		if opener, err := exec.LookPath("xdg-open"); err == nil {
			// The opener gets the page's path, never the link: any local user can read a
			// process's arguments, and the token in them would log them in.
			cmd := exec.Command(opener, page)
			if err := cmd.Start(); err == nil {
				cmd.Process.Release() // the browser outlives this command
			}
		}
		return nil
	})
}
