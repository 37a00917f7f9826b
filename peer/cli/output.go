package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// friendJSON is one element of `kith friend ls --json`.
type friendJSON struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Addr   string   `json:"addr"`
	Groups []string `json:"groups"`
}

func friendsJSON(fs []*localv1.Friend) []friendJSON {
	out := []friendJSON{}
	for _, f := range fs {
		out = append(out, friendJSON{ID: f.GetId(), Name: f.GetName(), Addr: f.GetAddress(), Groups: nonNil(f.GetGroups())})
	}
	return out
}

// postJSON is one element of `kith timeline --json` (a contract: keep the field names).
type postJSON struct {
	ID          string           `json:"id"`
	Author      string           `json:"author"`
	Name        string           `json:"name"`
	Text        string           `json:"text"`
	Tags        []string         `json:"tags"`
	Visibility  string           `json:"visibility"`
	Audience    string           `json:"audience"`
	Attachments []attachmentJSON `json:"attachments"`
	Created     string           `json:"created"`
	Updated     string           `json:"updated"`
	ReplyCount  uint32           `json:"reply_count"`
	Reactions   []reactionJSON   `json:"reactions"`
	Mentions    []string         `json:"mentions"`
}

type attachmentJSON struct {
	SHA256    string `json:"sha256"`
	Size      uint64 `json:"size"`
	MediaType string `json:"media_type"`
	FileName  string `json:"file_name"`
	Present   bool   `json:"present"`
}

func timelineJSON(ps []*localv1.TimelinePost) []postJSON {
	out := []postJSON{}
	for _, p := range ps {
		j := postJSON{ID: p.GetId(), Author: p.GetAuthor(), Name: p.GetName(), Text: p.GetText(),
			Tags: nonNil(p.GetTags()), Visibility: p.GetVisibility(), Audience: p.GetAudience(), Attachments: []attachmentJSON{},
			Created: stamp(p.GetCreatedUnixMs()), Updated: stamp(p.GetUpdatedUnixMs()),
			ReplyCount: p.GetReplyCount(), Reactions: reactionsJSON(p.GetReactions()), Mentions: nonNil(p.GetMentions())}
		j.Attachments = attachmentsJSON(p.GetAttachments())
		out = append(out, j)
	}
	return out
}

// statusJSON is `kith status --json` (a contract: keep the field names).
type statusJSON struct {
	ID         string         `json:"id"`
	Listen     string         `json:"listen"`
	Rendezvous rendezvousJSON `json:"rendezvous"`
	Peers      []peerJSON     `json:"peers"`
	Carry      carryJSON      `json:"carry"`
}

type rendezvousJSON struct {
	Mode       string `json:"mode"`
	Address    string `json:"address"`
	Registered bool   `json:"registered"`
	Reflexive  string `json:"reflexive"`
	Published  bool   `json:"published"`
	Error      string `json:"error,omitempty"`
}

// printRendezvous is the rendezvous line of 'kith status': where, and whether it works.
func printRendezvous(w io.Writer, r rendezvousJSON) {
	switch {
	case r.Registered && r.Published:
		fmt.Fprintf(w, "rendezvous:  %s (registered, seen as %s; addresses published to strangers)\n", r.Address, orDash(r.Reflexive))
	case r.Registered:
		fmt.Fprintf(w, "rendezvous:  %s (registered, seen as %s)\n", r.Address, orDash(r.Reflexive))
	case r.Error != "":
		fmt.Fprintf(w, "rendezvous:  %s is unreachable (retrying): %s\n", r.Address, r.Error)
	default:
		fmt.Fprintf(w, "rendezvous:  %s (not registered yet)\n", orDash(r.Address))
	}
}

type peerJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Path     string `json:"path"`
	Remote   string `json:"remote"`
	Local    string `json:"local"`
	LastSync string `json:"last_sync"`
}

func stamp(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func describeFriend(f *localv1.Friend) string {
	s := f.GetId()
	if f.GetName() != "" {
		s = f.GetName() + " (" + s + ")"
	}
	if f.GetAddress() != "" {
		s += " at " + f.GetAddress()
	}
	if len(f.GetGroups()) > 0 {
		s += " in " + strings.Join(f.GetGroups(), ", ")
	}
	return s
}

func printFriends(w io.Writer, fs []*localv1.Friend) {
	if len(fs) == 0 {
		fmt.Fprintln(w, "no friends yet: add one with 'kith friend add ID --name NAME'")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tADDRESS\tGROUPS")
	for _, f := range fs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", orDash(f.GetName()), f.GetId(), orDash(f.GetAddress()), orDash(strings.Join(f.GetGroups(), ",")))
	}
	tw.Flush()
}

func printGroups(w io.Writer, gs []*localv1.Group, fs []*localv1.Friend) {
	if len(gs) == 0 {
		fmt.Fprintln(w, "no groups yet: make one with 'kith group add NAME FRIEND...'")
		return
	}
	names := map[string]string{}
	for _, f := range fs {
		names[f.GetId()] = f.GetName()
	}
	for _, g := range gs {
		var members []string
		for _, id := range g.GetMemberIds() {
			if n := names[id]; n != "" {
				members = append(members, n)
			} else {
				members = append(members, id)
			}
		}
		fmt.Fprintf(w, "%s: %s\n", g.GetName(), strings.Join(members, ", "))
	}
}

// mentionLine names the people a post or reply mentions, each by name and ID (a
// terminal's link: the ID is what every command takes), or "" when none. names maps
// IDs to friends' names and the person's own ID to "you".
func mentionLine(ids []string, names map[string]string) string {
	if len(ids) == 0 {
		return ""
	}
	var parts []string
	for _, id := range ids {
		switch n := names[id]; n {
		case "you":
			parts = append(parts, "you")
		case "":
			parts = append(parts, id)
		default:
			parts = append(parts, n+" ("+id+")")
		}
	}
	return "mentions: " + strings.Join(parts, ", ")
}

func printTimeline(w io.Writer, ps []*localv1.TimelinePost, names map[string]string) {
	if len(ps) == 0 {
		fmt.Fprintln(w, "nothing yet: write with 'kith post TEXT', or 'kith sync' with friends")
		return
	}
	for _, p := range ps {
		who := p.GetName()
		if who == "" {
			who = p.GetAuthor()[:12] + "…"
		}
		fmt.Fprintf(w, "%s  %s  %s  to: %s\n", stamp(p.GetCreatedUnixMs()), who, p.GetId(), orDash(p.GetAudience()))
		for _, line := range strings.Split(p.GetText(), "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
		if m := mentionLine(p.GetMentions(), names); m != "" {
			fmt.Fprintf(w, "    %s\n", m)
		}
		printAttachments(w, "    ", p.GetAttachments())
		fmt.Fprintln(w)
	}
}

func printSync(w io.Writer, rs []*localv1.SyncResult, friends []*localv1.Friend) error {
	if len(rs) == 0 {
		fmt.Fprintln(w, "no friends to sync with")
		return nil
	}
	failed := 0
	for _, r := range rs {
		who := nameAndID(friends, r.GetFriendId())
		if r.GetError() != "" {
			failed++
			fmt.Fprintf(w, "%s: not reached: %s\n", who, r.GetError())
			continue
		}
		if r.GetRemoved() {
			fmt.Fprintf(w, "%s removed you: you see their public posts only now (%d public new or updated)\n", who, r.GetPulled())
			continue
		}
		n := r.GetPulled() + r.GetLive()
		fmt.Fprintf(w, "%s: %d new or updated", who, n)
		if r.GetLive() > 0 {
			fmt.Fprintf(w, " (%d of them arrived on their own since the last sync)", r.GetLive())
		}
		fmt.Fprintf(w, ", %d revoked (%s)\n", r.GetRevoked(), orDash(r.GetPath()))
		printCarried(w, who, r, friends)
	}
	if failed > 0 {
		return exitError{ExitUnreachable, fmt.Errorf("%d of %d friends could not be reached", failed, len(rs))}
	}
	return nil
}

// printCarried says, per author, which posts a friend's node carried here: the lines
// above count only posts that came from the friend as their author.
func printCarried(w io.Writer, via string, r *localv1.SyncResult, friends []*localv1.Friend) {
	for _, c := range r.GetCarried() {
		fmt.Fprintf(w, "%s: carried %d new or updated by %s (sealed; the author's signature verified)\n",
			via, c.GetPosts(), nameAndID(friends, c.GetAuthorId()))
	}
	if r.GetRefused() > 0 {
		fmt.Fprintf(w, "%s: refused %d sealed posts it carried that did not verify (altered or forged; see the daemon log)\n", via, r.GetRefused())
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// printAttachments lists a post's or a reply's attachments, each on a line after indent.
func printAttachments(w io.Writer, indent string, as []*localv1.TimelineAttachment) {
	for _, a := range as {
		state := ""
		if !a.GetPresent() {
			state = " (not fetched yet)"
		}
		fmt.Fprintf(w, "%s📎 %s  %s  %s%s\n", indent, a.GetFileName(), a.GetMediaType(), humanBytes(a.GetSize()), state)
	}
}
