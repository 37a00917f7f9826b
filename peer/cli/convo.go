package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/kithnet/kith/peer/post"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// conversationCommands are replies, reactions, threads and notifications (issue 18).
func conversationCommands() []*command {
	return []*command{
		{name: "reply", args: "POST_ID [--file F]... TEXT", summary: "reply to a post", run: runReply, help: `
Signs a reply to a post you can see and hands it to the post's author, who keeps the
conversation of their post and shows it to exactly the people who can see the post
(anyone, for a public post). If the author cannot be reached now, the reply waits here
and goes out at the next sync with them. @NAME (a friend's name) or @ID mentions that
person: they are notified if they can see the post.

  --file F   attach a file (a photo, say; at most 16 MiB each, 8 in all): the post's
             author keeps it with the reply and shows it to the same people

Edit or delete your reply with 'kith reply edit' and 'kith reply rm'.`},
		{name: "reply edit", args: "REPLY_ID TEXT", summary: "replace the text of my reply", run: runReplyEdit, help: `
Replaces the text of one of your replies with a new signed version.`},
		{name: "reply rm", args: "REPLY_ID", summary: "delete my reply, or remove a reply from my post", run: runReplyRm, help: `
Deletes one of your replies (a signed tombstone replaces it), or, under one of your own
posts, removes someone's reply from the conversation you host: nobody is shown it again.`},
		{name: "react", args: "POST_ID EMOJI", summary: "react to a post with one emoji", run: runReact, help: `
Sets your reaction to a post (one emoji; a new one replaces the old). Like a reply, it
is signed and shown to exactly the people who can see the post.`},
		{name: "unreact", args: "POST_ID", summary: "withdraw my reaction to a post", run: runUnreact, help: `
Withdraws your reaction to a post.`},
		{name: "thread", args: "POST_ID [--json]", summary: "show a post and its conversation", run: runThread, help: `
Shows a post and its replies, oldest first, and its reactions. Every reply was verified
with its own author's key, friend or not.

  --json  {"post": {... as in timeline ...}, "replies": [{"id", "author",
          "author_name", "created", "text", "attachments"}], "reactions": [{"emoji",
          "count", "mine", "by"}]}`},
		{name: "notifications", args: "[--json] [--all]", summary: "show my unread notifications", run: runNotifications, help: `
Shows replies to your posts, reactions, mentions and friend requests you have not read
yet (with --all, read ones too), newest first. Mark them read with
'kith notifications read'.

  --json  a list of {"id", "kind", "from", "from_name", "post_id", "reply_id", "text",
          "created", "read"}`},
		{name: "notifications read", args: "[ID]...", summary: "mark notifications read (all when no ID)", run: runNotificationsRead, help: `
Marks the notifications with these ids read, or all of them when none is given.`},
		{name: "friend requests", args: "[--json]", summary: "list people who added me and wait for an answer", run: runFriendRequests, help: `
When someone adds you with 'kith friend add', their node sends you a signed friend
request (directly, when it can reach yours). This lists the pending ones; answer with
'kith friend accept' or 'kith friend ignore'.

  --json  a list of {"id", "name", "addr", "created"}`},
		{name: "friend accept", args: "ID|NAME", summary: "accept a friend request", run: runFriendAccept, help: `
Adds the person who sent this request as a friend, under the name they gave and at the
address they gave; rename them with 'kith friend add ID --name N'.`},
		{name: "friend ignore", args: "ID|NAME", summary: "ignore a friend request", run: runFriendIgnore, help: `
Drops a friend request; nothing is sent back.`},
	}
}

// requestJSON is one element of `kith friend requests --json`.
type requestJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	Created string `json:"created"`
}

func runFriendRequests(ctx context.Context, c *call) error {
	fs := newFlags("friend requests")
	asJSON := fs.Bool("json", false, "")
	if _, err := parse(fs, c.args, 0, 0); err != nil {
		return err
	}
	return c.withConversation(ctx, func(cl localv1.ConversationServiceClient) error {
		resp, err := cl.FriendRequests(ctx, &localv1.FriendRequestsRequest{})
		if err != nil {
			return err
		}
		if *asJSON {
			out := []requestJSON{}
			for _, r := range resp.GetRequests() {
				out = append(out, requestJSON{ID: r.GetId(), Name: r.GetName(), Addr: r.GetAddress(), Created: stamp(r.GetCreatedUnixMs())})
			}
			return writeJSON(c.env.Stdout, out)
		}
		if len(resp.GetRequests()) == 0 {
			fmt.Fprintln(c.env.Stdout, "no pending friend requests")
			return nil
		}
		for _, r := range resp.GetRequests() {
			fmt.Fprintf(c.env.Stdout, "%s  %s  %s  %s\n", stamp(r.GetCreatedUnixMs()), orDash(r.GetName()), r.GetId(), orDash(r.GetAddress()))
		}
		return nil
	})
}

func runFriendAccept(ctx context.Context, c *call) error {
	return c.answerRequest(ctx, "friend accept", true)
}

func runFriendIgnore(ctx context.Context, c *call) error {
	return c.answerRequest(ctx, "friend ignore", false)
}

func (c *call) answerRequest(ctx context.Context, name string, accept bool) error {
	pos, err := parse(newFlags(name), c.args, 1, 1)
	if err != nil {
		return err
	}
	return c.withConversation(ctx, func(cl localv1.ConversationServiceClient) error {
		resp, err := cl.AnswerFriendRequest(ctx, &localv1.AnswerFriendRequestRequest{Who: pos[0], Accept: accept})
		if err != nil {
			return err
		}
		if accept {
			fmt.Fprintf(c.env.Stdout, "added friend %s (%s)\n", orDash(resp.GetName()), resp.GetId())
		} else {
			fmt.Fprintf(c.env.Stdout, "ignored the request from %s (%s)\n", orDash(resp.GetName()), resp.GetId())
		}
		return nil
	})
}

// withConversation runs f with the daemon's conversation API.
func (c *call) withConversation(ctx context.Context, f func(localv1.ConversationServiceClient) error) error {
	conn, err := c.dialConn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return rpcError(c.home, f(localv1.NewConversationServiceClient(conn)))
}

// sent tells the person where a reply or reaction stands.
func sent(w io.Writer, what string, delivered bool, note string) {
	if delivered {
		fmt.Fprintf(w, "%s\n", what)
		return
	}
	fmt.Fprintf(w, "%s (waiting: %s)\n", what, note)
}

func runReply(ctx context.Context, c *call) error {
	fs := newFlags("reply")
	var files multi
	fs.Var(&files, "file", "")
	pos, err := parse(fs, c.args, 2, -1)
	if err != nil {
		return err
	}
	text := strings.Join(pos[1:], " ")
	if strings.TrimSpace(text) == "" {
		return usagef("a reply needs some text")
	}
	if len(files) > post.MaxReplyAttachments {
		return usagef("%d files; a reply carries at most %d", len(files), post.MaxReplyAttachments)
	}
	paths, err := checkFiles(files, post.MaxReplyAttachmentSize, "16 MiB for a reply")
	if err != nil {
		return err
	}
	return c.withConversation(ctx, func(cl localv1.ConversationServiceClient) error {
		resp, err := cl.Reply(ctx, &localv1.ReplyRequest{PostId: pos[0], Text: text, AttachmentPaths: paths})
		if err != nil {
			return err
		}
		sent(c.env.Stdout, resp.GetId(), resp.GetDelivered(), resp.GetNote())
		return nil
	})
}

func runReplyEdit(ctx context.Context, c *call) error {
	pos, err := parse(newFlags("reply edit"), c.args, 2, -1)
	if err != nil {
		return err
	}
	return c.withConversation(ctx, func(cl localv1.ConversationServiceClient) error {
		resp, err := cl.EditReply(ctx, &localv1.EditReplyRequest{ReplyId: pos[0], Text: strings.Join(pos[1:], " ")})
		if err != nil {
			return err
		}
		sent(c.env.Stdout, "edited "+pos[0], resp.GetDelivered(), resp.GetNote())
		return nil
	})
}

func runReplyRm(ctx context.Context, c *call) error {
	pos, err := parse(newFlags("reply rm"), c.args, 1, 1)
	if err != nil {
		return err
	}
	return c.withConversation(ctx, func(cl localv1.ConversationServiceClient) error {
		resp, err := cl.DeleteReply(ctx, &localv1.DeleteReplyRequest{ReplyId: pos[0]})
		if err != nil {
			return err
		}
		if resp.GetRemoved() {
			fmt.Fprintf(c.env.Stdout, "removed %s from your post's conversation\n", pos[0])
			return nil
		}
		sent(c.env.Stdout, "deleted "+pos[0], resp.GetDelivered(), resp.GetNote())
		return nil
	})
}

func runReact(ctx context.Context, c *call) error {
	pos, err := parse(newFlags("react"), c.args, 2, 2)
	if err != nil {
		return err
	}
	return c.react(ctx, pos[0], pos[1], "reacted "+pos[1])
}

func runUnreact(ctx context.Context, c *call) error {
	pos, err := parse(newFlags("unreact"), c.args, 1, 1)
	if err != nil {
		return err
	}
	return c.react(ctx, pos[0], "", "reaction withdrawn")
}

func (c *call) react(ctx context.Context, postID, emoji, done string) error {
	return c.withConversation(ctx, func(cl localv1.ConversationServiceClient) error {
		resp, err := cl.React(ctx, &localv1.ReactRequest{PostId: postID, Emoji: emoji})
		if err != nil {
			return err
		}
		sent(c.env.Stdout, done, resp.GetDelivered(), resp.GetNote())
		return nil
	})
}

// threadJSON is `kith thread --json` (a contract: keep the field names).
type threadJSON struct {
	Post      postJSON       `json:"post"`
	Replies   []replyJSON    `json:"replies"`
	Reactions []reactionJSON `json:"reactions"`
}

type replyJSON struct {
	ID          string           `json:"id"`
	Author      string           `json:"author"`
	AuthorName  string           `json:"author_name"`
	Created     string           `json:"created"`
	Text        string           `json:"text"`
	Attachments []attachmentJSON `json:"attachments"`
}

type reactionJSON struct {
	Emoji string   `json:"emoji"`
	Count uint32   `json:"count"`
	Mine  bool     `json:"mine"`
	By    []string `json:"by"`
}

func reactionsJSON(rs []*localv1.ReactionSummary) []reactionJSON {
	out := []reactionJSON{}
	for _, r := range rs {
		out = append(out, reactionJSON{Emoji: r.GetEmoji(), Count: r.GetCount(), Mine: r.GetMine(), By: nonNil(r.GetBy())})
	}
	return out
}

func attachmentsJSON(as []*localv1.TimelineAttachment) []attachmentJSON {
	out := []attachmentJSON{}
	for _, a := range as {
		out = append(out, attachmentJSON{SHA256: a.GetSha256(), Size: a.GetSize(),
			MediaType: a.GetMediaType(), FileName: a.GetFileName(), Present: a.GetPresent()})
	}
	return out
}

func runThread(ctx context.Context, c *call) error {
	fs := newFlags("thread")
	asJSON := fs.Bool("json", false, "")
	pos, err := parse(fs, c.args, 1, 1)
	if err != nil {
		return err
	}
	return c.withConversation(ctx, func(cl localv1.ConversationServiceClient) error {
		t, err := cl.Thread(ctx, &localv1.ThreadRequest{PostId: pos[0]})
		if err != nil {
			return err
		}
		// A thread of 10,000 replies is tens of thousands of lines: one write, not one each.
		w := bufio.NewWriterSize(c.env.Stdout, 64<<10)
		if *asJSON {
			j := threadJSON{Post: timelineJSON([]*localv1.TimelinePost{t.GetPost()})[0], Replies: make([]replyJSON, 0, len(t.GetReplies())),
				Reactions: reactionsJSON(t.GetReactions())}
			for _, r := range t.GetReplies() {
				j.Replies = append(j.Replies, replyJSON{ID: r.GetId(), Author: r.GetAuthor(), AuthorName: r.GetAuthorName(),
					Created: stamp(r.GetCreatedUnixMs()), Text: r.GetText(), Attachments: attachmentsJSON(r.GetAttachments())})
			}
			if err := writeJSON(w, j); err != nil {
				return err
			}
			return w.Flush()
		}
		names := map[string]string{}
		c.withDaemon(ctx, func(lc localv1.LocalServiceClient) error { names = people(ctx, lc); return nil })
		printThread(w, t, names)
		return w.Flush()
	})
}

func printThread(w io.Writer, t *localv1.ThreadResponse, names map[string]string) {
	printTimeline(w, []*localv1.TimelinePost{t.GetPost()}, names)
	if len(t.GetReactions()) > 0 {
		var parts []string
		for _, r := range t.GetReactions() {
			parts = append(parts, fmt.Sprintf("%s %d", r.GetEmoji(), r.GetCount()))
		}
		fmt.Fprintf(w, "    %s\n\n", strings.Join(parts, "  "))
	}
	if len(t.GetReplies()) == 0 {
		fmt.Fprintln(w, "    no replies yet: answer with 'kith reply POST_ID TEXT'")
		return
	}
	for _, r := range t.GetReplies() {
		who := r.GetAuthorName()
		if who == "" {
			who = r.GetAuthor()[:12] + "…"
		}
		state := ""
		if r.GetPending() {
			state = "  (not delivered yet)"
		}
		fmt.Fprintf(w, "    ↳ %s  %s  %s%s\n", stamp(r.GetCreatedUnixMs()), who, r.GetId(), state)
		for _, line := range strings.Split(r.GetText(), "\n") {
			fmt.Fprintf(w, "        %s\n", line)
		}
		if m := mentionLine(r.GetMentions(), names); m != "" {
			fmt.Fprintf(w, "        %s\n", m)
		}
		printAttachments(w, "        ", r.GetAttachments())
	}
}

// notificationJSON is one element of `kith notifications --json`.
type notificationJSON struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	From     string `json:"from"`
	FromName string `json:"from_name"`
	PostID   string `json:"post_id"`
	ReplyID  string `json:"reply_id"`
	Text     string `json:"text"`
	Created  string `json:"created"`
	Read     bool   `json:"read"`
}

func runNotifications(ctx context.Context, c *call) error {
	fs := newFlags("notifications")
	asJSON := fs.Bool("json", false, "")
	all := fs.Bool("all", false, "")
	if _, err := parse(fs, c.args, 0, 0); err != nil {
		return err
	}
	return c.withConversation(ctx, func(cl localv1.ConversationServiceClient) error {
		resp, err := cl.Notifications(ctx, &localv1.NotificationsRequest{All: *all})
		if err != nil {
			return err
		}
		if *asJSON {
			out := []notificationJSON{}
			for _, n := range resp.GetNotifications() {
				out = append(out, notificationJSON{ID: n.GetId(), Kind: n.GetKind(), From: n.GetFrom(), FromName: n.GetFromName(),
					PostID: n.GetPostId(), ReplyID: n.GetReplyId(), Text: n.GetText(), Created: stamp(n.GetCreatedUnixMs()), Read: n.GetRead()})
			}
			return writeJSON(c.env.Stdout, out)
		}
		if len(resp.GetNotifications()) == 0 {
			fmt.Fprintln(c.env.Stdout, "no new notifications")
			return nil
		}
		for _, n := range resp.GetNotifications() {
			who := n.GetFromName()
			if who == "" {
				who = n.GetFrom()[:12] + "…"
			}
			mark := "•"
			if n.GetRead() {
				mark = " "
			}
			fmt.Fprintf(c.env.Stdout, "%s %s  %s  %s %s", mark, n.GetId(), stamp(n.GetCreatedUnixMs()), who, describe(n))
			if n.GetText() != "" {
				fmt.Fprintf(c.env.Stdout, ": %s", strings.ReplaceAll(n.GetText(), "\n", " "))
			}
			fmt.Fprintln(c.env.Stdout)
		}
		return nil
	})
}

func describe(n *localv1.Notification) string {
	switch n.GetKind() {
	case "reply":
		return "replied to your post " + n.GetPostId()
	case "reaction":
		return "reacted to your post " + n.GetPostId()
	case "mention":
		return "mentioned you under post " + n.GetPostId()
	case "friend_request":
		return "asks to be your friend (kith friend requests)"
	case "post":
		return "posted again after a while: " + n.GetPostId()
	}
	return n.GetKind()
}

func runNotificationsRead(ctx context.Context, c *call) error {
	pos, err := parse(newFlags("notifications read"), c.args, 0, -1)
	if err != nil {
		return err
	}
	return c.withConversation(ctx, func(cl localv1.ConversationServiceClient) error {
		resp, err := cl.MarkRead(ctx, &localv1.MarkReadRequest{Ids: pos})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "%d marked read\n", resp.GetMarked())
		return nil
	})
}
