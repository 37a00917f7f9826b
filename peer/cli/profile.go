package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/kithnet/kith/peer/profile"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

func runProfile(ctx context.Context, c *call) error {
	fs := newFlags("profile")
	var follows multi
	fs.Var(&follows, "public-follows", "")
	name := fs.String("public-name", "", "")
	pos, err := parse(fs, c.args, 0, -1)
	if err != nil {
		return err
	}
	req := &localv1.SetProfileRequest{}
	set := false
	if len(follows) > 0 {
		list := splitList(append(follows, pos...)...)
		req.SetFollows, set = true, true
		if !(len(list) == 1 && list[0] == "none") {
			for _, s := range list {
				f, err := profile.ParseFollow(s)
				if err != nil {
					return usagef("--public-follows: %v, or none", err)
				}
				req.PublicFollows = append(req.PublicFollows, &localv1.PublicFollow{Id: string(f.Key.ID()), Address: f.Addr})
			}
		}
	} else if len(pos) > 0 {
		return usagef("unexpected argument %q (IDs follow --public-follows)", pos[0])
	}
	if *name != "" {
		on, err := parseOnOff(*name)
		if err != nil {
			return usagef("--public-name %q: want on or off", *name)
		}
		req.PublishName, set = &on, true
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		var p *localv1.Profile
		if set {
			resp, err := cl.SetProfile(ctx, req)
			if err != nil {
				return err
			}
			p = resp.GetProfile()
		} else {
			resp, err := cl.GetProfile(ctx, &localv1.GetProfileRequest{})
			if err != nil {
				return err
			}
			p = resp.GetProfile()
		}
		printProfile(c.env.Stdout, p)
		return nil
	})
}

func parseOnOff(s string) (bool, error) {
	switch s {
	case "on", "yes":
		return true, nil
	case "off", "no":
		return false, nil
	}
	return strconv.ParseBool(s)
}

func printProfile(w io.Writer, p *localv1.Profile) {
	fmt.Fprintf(w, "id:             %s\n", p.GetId())
	pub := "not published"
	if p.GetPublishName() {
		pub = "published"
	}
	fmt.Fprintf(w, "name:           %s (%s)\n", p.GetName(), pub)
	if len(p.GetPublicFollows()) == 0 {
		fmt.Fprintln(w, "public follows: none published")
		return
	}
	fmt.Fprintf(w, "public follows: %d published\n", len(p.GetPublicFollows()))
	for _, f := range p.GetPublicFollows() {
		s := f.GetId()
		if f.GetAddress() != "" {
			s += "@" + f.GetAddress()
		}
		fmt.Fprintf(w, "  %s\n", s)
	}
}
