package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kithnet/kith/peer/backup"
	"github.com/kithnet/kith/peer/public"
	"github.com/kithnet/kith/peer/ui"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	"github.com/kithnet/kith/shared/identity"
)

// MaxAttachment is the largest file a post may carry.
const MaxAttachment = 1 << 30

func commands() []*command {
	return append([]*command{
		{name: "init", args: "[--name NAME] [--key FILE] [--passphrase-file FILE] | --join CODE [--addr HOST:PORT] [--rendezvous LIST] [--passphrase-file FILE]", summary: "make a new identity, restore one from a key backup, or join as a new device", run: runInit, help: `
Creates the home directory and your identity: a new key, or the one in FILE (a backup
made by 'kith key export'; its passphrase is asked, or read from KITH_PASSPHRASE).
Refuses to touch a home that already has an identity.

In a terminal, init offers to encrypt the key on this disk with a passphrase (Enter for
none); --passphrase-file FILE (mode 0600, first line) does so without asking. The
daemon then needs that passphrase to start. Back up the key with 'kith key export'.

  --join CODE        make this home a new device of yours instead: CODE is what
                     'kith device add NAME' printed on the device with your identity
                     (valid 10 minutes, once). This device gets its own key, certified
                     by your identity, and a copy of your friends, groups, posts,
                     attachments, profile and settings; your identity key stays there.
                     The device's own key is encrypted on this disk as above: asked
                     in a terminal, or --passphrase-file FILE; the daemon unlocks it
                     the same way.
  --addr HOST:PORT   with --join: the other device's address (direct mode)
  --rendezvous LIST  with --join: reach the other device through these rendezvous
                     servers (default $KITH_RENDEZVOUS) when --addr is not given`},
		{name: "id", summary: "print my ID", run: runID, help: `
Prints your ID: your public key (56 characters, the last two of each half check for
typos), which your friends add with 'kith friend add'.
Works with or without the daemon running.`},
		{name: "daemon", args: "[--listen ADDR] [--rendezvous [tls://]HOST:PORT[,...]|none] [--rendezvous-ca FILE] [--publish-addresses]", summary: "run my node (in the foreground)", run: runDaemon, help: `
Runs your node until interrupted: it serves your posts to your friends (and public posts
to anyone), pulls theirs, and answers the other kith commands over a unix socket in the
home directory. Only one daemon may run per home.

  --listen ADDR        UDP address for peer connections (default :4700)
  --rendezvous LIST    rendezvous servers to register with, comma-separated, or none
                       (direct mode: friends are dialled at their --addr). Default: none,
                       or $KITH_RENDEZVOUS. tls://HOST:PORT speaks TLS, verified against
                       the system roots or --rendezvous-ca; plain HOST:PORT beyond
                       loopback is warned about (the network sees which IDs you look up).
  --rendezvous-ca FILE PEM certificates that verify tls:// rendezvous servers instead of
                       the system roots
  --publish-addresses  publish your addresses in plain in the rendezvous, so strangers
                       and crawlers can reach your public posts by ID (only while you have
                       a public post). Default: only your friends can read them.
  --portmap=false      do not ask your router to forward a port to kith (PCP, NAT-PMP or
                       UPnP-IGD, asked only with a rendezvous and a socket that is not on
                       loopback; the mapping is released when the daemon stops)
  --keepalive DURATION how often idle connections and NAT mappings get a packet, so home
                       routers keep them open (default 15s)
  --follow=false       do not keep connections to friends open; only 'kith sync' pulls
                       (for metered links, and benchmarks of connection setup)
  --carry=false        do not carry your friends' sealed posts for others (on by
                       default: you hold, encrypted, posts your friends wrote for people
                       who are not online with them; you cannot read what is not for you)
  --carry-quota SIZE   sealed posts kept per friend at most (default 256MiB); past it new
                       ones are refused and the daemon logs why
  --carry-retention DURATION
                       how long a sealed post is kept at most (default 720h, 30 days); it
                       goes sooner once every reader it is for has it
  --public-http ADDR   serve your public posts (and nothing else) over HTTP on ADDR, for
                       search engines and anyone with a browser. Default: off.
  --public-tls-cert FILE, --public-tls-key FILE
                       serve the public face over HTTPS with this certificate and key
  --public-noindex     ask search engines not to index your public posts
  --public-url URL     the public face's address as the world sees it (https://you.example):
                       canonical links, OpenGraph, feeds and the sitemap use it. Without
                       it links are relative and there is no sitemap; the request's Host
                       header is never used
  --batch N            changes per pull step (default: what the friend's node offers)
  --log-level LEVEL    debug, info (the default), warn or error; logs go to stderr. Each
                       connection's end is logged with its round trip, packets lost and
                       bytes each way; with $QLOGDIR set, a qlog trace of each connection
                       is written there
  --passphrase-file FILE
                       the passphrase of a key encrypted at init (mode 0600, first line);
                       without it the daemon asks on the terminal
  --ui ADDR|off        the web app ('kith ui' opens it); default 127.0.0.1:4701. Beyond
                       loopback it needs --ui-tls-cert, --ui-tls-key and $KITH_UI_PASSWORD`},
		{name: "ui", summary: "open the web app (prints a one-time login link)", run: runUI, help: `
Prints the address of your daemon's web app with a one-time login token, and opens it in
a browser when one is available. The link logs in once, within 2 minutes. The browser
is handed a private file that redirects to the link, never the link itself, so no other
user of the machine can read the token from its command line.`},
		{name: "status", args: "[--json]", summary: "show my node, its rendezvous and connected friends", run: runStatus, help: `
Shows your ID, the rendezvous in use and, for each connected friend, whether the path is
direct or through a relay. --json prints
{"id", "rendezvous": {...}, "peers": [{"id", "name", "path", "remote", "local", "last_sync"}]}
(remote: the friend's address as this socket sees it; local: this node's socket, the
listening one or, after a birthday punch, a spare one).`},
		{name: "friend add", args: "ID [--name N] [--addr HOST:PORT] [--group G]...", summary: "add a friend (or update one)", run: runFriendAdd, help: `
Adds the person with this ID as a friend: they may see your posts for friends and you pull
theirs. On a known ID it updates the name, address and groups given.

  --name N          what to call them
  --addr HOST:PORT  where their node listens, for direct connections
  --group G         a group to put them in (repeatable)`},
		{name: "friend ls", args: "[--json]", summary: "list friends", run: runFriendLs, help: `
Lists your friends. --json prints a list of {"id", "name", "addr", "groups"}.`},
		{name: "friend rm", args: "ID|NAME", summary: "remove a friend", run: runFriendRm, help: `
Removes a friend: they no longer see your private posts; their posts stay in your
timeline until you delete them.`},
		{name: "group ls", summary: "list groups", run: runGroupLs, help: `Lists your groups and who is in each.`},
		{name: "group add", args: "[--yes] NAME ID...", summary: "add friends to a group (creating it)", run: runGroupAdd, help: `
Adds friends (by ID or name) to the group NAME, creating it if needed. When they would
see existing posts they could not see before, it says how many and asks first.

  --yes   do not ask (for scripts)`},
		{name: "group rm", args: "NAME ID...", summary: "remove friends from a group", run: runGroupRm, help: `
Removes friends (by ID or name) from the group NAME.`},
		{name: "post", args: "[--to me|friends|public|GROUP|NAME|ID]... [--attach FILE]... TEXT|-", summary: "write a post; prints its id", run: runPost, help: `
Signs and stores a post, and prints its id. Words starting with # become hashtags.

  --to AUDIENCE   who may see it (repeatable; the union). me, friends (the default),
                  public (anyone, including search engines), a group's name, a friend's
                  name or ID.
  --attach FILE   a photo or other file to attach (repeatable; up to 1 GiB each)

TEXT - reads the text from standard input. An empty post is refused.
Start TEXT after -- if it begins with a dash: kith post -- "-5 degrees today"`},
		{name: "edit", args: "POST_ID TEXT|-", summary: "replace a post's text", run: runEdit, help: `
Replaces the text of one of your posts with a new signed version; friends who can see it
get the edit on their next sync.`},
		{name: "rm", args: "POST_ID", summary: "delete a post", run: runRm, help: `
Deletes one of your posts: a signed tombstone replaces it, and friends drop it on their
next sync.`},
		{name: "timeline", args: "[--json] [--tag TAG] [--from ID]", summary: "show posts, newest first", run: runTimeline, help: `
Shows your posts and your friends', newest first.

  --tag TAG   only posts with this hashtag
  --from WHO  only posts by this friend (ID or name), or by me (me, my name or ID)
  --json      a list of {"id", "author", "name", "text", "tags", "visibility", "audience",
              "attachments", "created", "updated"}`},
		{name: "save", args: "POST_ID [DIR]", summary: "save a post's attachments as files", run: runSave, help: `
Writes the photos and files attached to a post (yours or a friend's) into DIR (default:
the current directory) under their own names; a name already taken gets " (2)" before
its extension. Prints each file written.`},
		{name: "sync", args: "[ID]", summary: "sync now with one or all friends", run: runSync, help: `
Pulls new posts from one friend (ID or name) or all of them, and returns when done.
Exits with 4 when a friend could not be reached.`},
		{name: "key export", args: "--out FILE [--passphrase-file FILE]", summary: "back up my identity key, passphrase-encrypted", run: runKeyExport, help: `
Writes your identity key to FILE, encrypted with a passphrase (asked twice, or the first
line of --passphrase-file, mode 0600, or KITH_PASSPHRASE, which other processes of
yours can read). With it, 'kith init --key FILE' and 'kith recover' bring you back after
a lost disk. Keep it somewhere other than this machine.`},
		{name: "export", args: "--out FILE [--passphrase-file FILE]", summary: "back up the whole home, encrypted", run: runExport, help: `
Writes everything (identity, friends, groups, posts, photos) to FILE, encrypted with age
under a passphrase (asked twice, or the first line of --passphrase-file, mode 0600, or
KITH_PASSPHRASE). Restore with 'kith import'.`},
		{name: "import", args: "FILE [--passphrase-file FILE]", summary: "restore a home from 'kith export'", run: runImport, help: `
Restores a home made by 'kith export' into an empty --home; the passphrase is asked, or
read from --passphrase-file (mode 0600, first line) or KITH_PASSPHRASE. A wrong
passphrase, or a corrupted or truncated file, is refused and nothing is written.`},
		{name: "recover", args: "[--from ID [--addr HOST:PORT]]", summary: "get my posts and friends back from friends", run: runRecover, help: `
After a lost disk, with the key restored ('kith init --key FILE') and the daemon running:
asks one friend, then every friend your recovery kit lists, for their copy of the kit
(your friends, groups and who may see each post), keeps the newest, then pulls back
every post of yours that each friend holds, verifying every signature; each post gets
back the audience it had (one whose audience is unknown is kept for you alone). Reports
which kit it used (date, from whom), what came back from whom, and names the posts that
could not come back (posts for you alone, which no friend holds).

  --from ID         the friend to ask first
  --addr HOST:PORT  where that friend's node listens (direct mode; with a rendezvous
                    the ID is enough)`},
		{name: "profile", args: "[--public-follows ID[@HOST:PORT]...|none] [--public-name on|off]", summary: "show or change what my public profile publishes", run: runProfile, help: `
Without flags, shows your public profile settings. Your public profile is what anyone,
crawlers and search engines included, may read about you: by default only your ID.

  --public-follows LIST  publish a follow list: IDs (comma-separated, or one per
                         argument), each optionally with @HOST:PORT where that node may
                         be dialled directly (crawlers in direct mode need one). It
                         replaces the list; 'none' stops publishing it. Off by default.
  --public-name on|off   publish your name too (off by default)`},
		{name: "crawl", args: "--seed ID[@HOST:PORT][,...] --index FILE [--max-peers N] [--max-posts N] [--rate R] [--rendezvous HOST:PORT[,...]|none]", summary: "crawl public posts into a search index (no daemon needed)", run: runCrawl, help: `
Reaches peers as a stranger over the sync API, pulls their public posts (nothing else is
served to strangers), verifies every signature, and indexes them in FILE (bbolt; created
when missing, with the crawler's own identity key inside). It follows edges
breadth-first: public follow lists ('kith profile --public-follows') and IDs mentioned
in public posts. A second run resumes from each peer's cursor.

  --seed LIST        where to start: ID@HOST:PORT dials that address (direct mode); a
                     bare ID is reached at an address the index remembers
  --index FILE       the index to write
  --max-peers N      visit at most N peers (default 100)
  --max-posts N      index at most N posts in this run (default 100000)
  --rate R           at most R requests per second to any one peer (default 20)
  --rendezvous LIST  rendezvous servers (HOST:PORT, comma-separated) to look peers up
                     in: a bare ID is dialled at the candidates of its own signed
                     registration. No hole punching or relay yet: a peer must accept
                     packets at one of its candidates. Default: none (direct mode).

In direct mode a discovered ID is followed only when an address is known for it: a
seed's, one its publisher gave with it in a public follow list (ID@HOST:PORT), or one
the index remembers.
Exits 1 when a peer failed (unreachable, or served data that does not verify: nothing
of it is indexed); the summary names each.`},
		{name: "search", args: "--index FILE [--json] [--limit N] QUERY", summary: "search an index made by 'kith crawl'", run: runSearch, help: `
Answers QUERY from the index, newest first: #tag (a hashtag), from:ID (an author; a
friend's name, or your own, works too while your daemon runs) and words, all of which
must match. Each result shows its author's ID and whether its
signature verified again just now.

  --json     a list of {"id", "author", "text", "tags", "created", "updated", "verified"}
  --limit N  at most N results (default 100; 0: all)`},
	}, append(conversationCommands(), deviceCommands()...)...)
}

func runInit(ctx context.Context, c *call) error {
	fs := newFlags("init")
	name := fs.String("name", "", "")
	key := fs.String("key", "", "")
	passFile := fs.String("passphrase-file", "", "")
	join := fs.String("join", "", "")
	addr := fs.String("addr", "", "")
	rdv := fs.String("rendezvous", c.env.Getenv("KITH_RENDEZVOUS"), "")
	if _, err := parse(fs, c.args, 0, 0); err != nil {
		return err
	}
	if *join != "" {
		if *key != "" || *name != "" {
			return usagef("init --join takes neither --key nor --name: the device gets both from the other device")
		}
		return runJoin(ctx, c, *join, *addr, *rdv, *passFile)
	}
	if *addr != "" {
		return usagef("--addr goes with --join")
	}
	if c.env.Init == nil {
		return errors.New("init is not available in this build")
	}
	encrypted := false
	cfg := InitConfig{Home: c.home, Name: *name, KeyFile: *key, ScryptWorkFactor: backup.WorkFactor(),
		Passphrase: func() ([]byte, error) { return c.passphrase("Passphrase of the key backup: ", false) },
		AtRest: func() ([]byte, error) {
			p, err := c.atRestPassphrase(*passFile)
			encrypted = len(p) > 0
			return p, err
		}}
	id, err := c.env.Init(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.env.Stdout, id)
	if encrypted {
		fmt.Fprintf(c.env.Stderr, "kith: your key is encrypted on this disk; the daemon asks for its passphrase (or reads --passphrase-file)\n")
	} else {
		fmt.Fprintf(c.env.Stderr, "kith: your key is stored unencrypted in %s (protect it with 'kith init --passphrase-file FILE', or run init in a terminal)\n", c.home)
	}
	fmt.Fprintf(c.env.Stderr, "kith: back up your key with 'kith --home %s key export --out FILE' once the daemon runs, and keep FILE off this machine\n", c.home)
	fmt.Fprintf(c.env.Stderr, "kith: identity ready in %s; start your node with 'kith --home %s daemon'\n", c.home, c.home)
	return nil
}

func runID(ctx context.Context, c *call) error {
	if _, err := parse(newFlags("id"), c.args, 0, 0); err != nil {
		return err
	}
	cl, done, err := c.dial(ctx)
	var ee exitError
	if errors.As(err, &ee) && ee.code == ExitNoDaemon && c.env.LocalID != nil {
		if _, serr := os.Stat(c.home); serr != nil {
			return err // no home at all: say how to make one
		}
		id, lerr := c.env.LocalID(c.home)
		if lerr != nil {
			return lerr
		}
		fmt.Fprintln(c.env.Stdout, id)
		return nil
	}
	if err != nil {
		return err
	}
	defer done()
	st, err := cl.Status(ctx, &localv1.StatusRequest{})
	if err != nil {
		return rpcError(c.home, err)
	}
	fmt.Fprintln(c.env.Stdout, st.GetId())
	return nil
}

func runDaemon(ctx context.Context, c *call) error {
	fs := newFlags("daemon")
	listen := fs.String("listen", "", "")
	rdv := fs.String("rendezvous", c.env.Getenv("KITH_RENDEZVOUS"), "")
	var cfg DaemonConfig
	fs.StringVar(&cfg.PublicHTTP, "public-http", "", "")
	fs.StringVar(&cfg.PublicTLSCert, "public-tls-cert", "", "")
	fs.StringVar(&cfg.PublicTLSKey, "public-tls-key", "", "")
	fs.BoolVar(&cfg.PublicNoIndex, "public-noindex", false, "")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "")
	fs.IntVar(&cfg.Batch, "batch", 0, "")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "")
	fs.StringVar(&cfg.UI, "ui", ui.DefaultAddr, "")
	fs.StringVar(&cfg.UITLSCert, "ui-tls-cert", "", "")
	fs.StringVar(&cfg.UITLSKey, "ui-tls-key", "", "")
	fs.DurationVar(&cfg.KeepAlive, "keepalive", 0, "")
	fs.StringVar(&cfg.RendezvousCA, "rendezvous-ca", "", "")
	fs.BoolVar(&cfg.PublishAddresses, "publish-addresses", false, "")
	portMap := fs.Bool("portmap", true, "")
	follow := fs.Bool("follow", true, "")
	carryOn := fs.Bool("carry", true, "")
	carryQuota := fs.String("carry-quota", "256MiB", "")
	fs.DurationVar(&cfg.CarryRetention, "carry-retention", 30*24*time.Hour, "")
	passFile := fs.String("passphrase-file", "", "")
	if _, err := parse(fs, c.args, 0, 0); err != nil {
		return err
	}
	var err error
	if cfg.CarryQuota, err = parseSize(*carryQuota); err != nil || cfg.CarryQuota == 0 {
		return usagef("--carry-quota %q: want a size such as 256MiB, 1GiB or 500000000 (bytes), above 0", *carryQuota)
	}
	if cfg.CarryRetention < time.Minute {
		return usagef("--carry-retention %v: want a duration of at least 1m, such as 720h", cfg.CarryRetention)
	}
	cfg.CarryOff = !*carryOn
	cfg.Passphrase = func() ([]byte, error) { return c.unlockPassphrase(*passFile) }
	if cfg.KeepAlive < 0 || (cfg.KeepAlive > 0 && cfg.KeepAlive < 100*time.Millisecond) {
		return usagef("--keepalive %v: want a duration of at least 100ms", cfg.KeepAlive)
	}
	if cfg.Batch < 0 || cfg.Batch > 10000 {
		return usagef("--batch %d: want 0 to 10000", cfg.Batch)
	}
	switch cfg.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return usagef("--log-level %q: want debug, info, warn or error", cfg.LogLevel)
	}
	if cfg.PublicURL != "" {
		if err := public.CheckBaseURL(cfg.PublicURL); err != nil {
			return usagef("--public-url %q: %v", cfg.PublicURL, err)
		}
		if cfg.PublicHTTP == "" {
			return usagef("--public-url needs --public-http")
		}
	}
	if (cfg.PublicTLSCert == "") != (cfg.PublicTLSKey == "") {
		return usagef("--public-tls-cert and --public-tls-key go together")
	}
	cfg.Home, cfg.Listen, cfg.NoFollow, cfg.NoPortMap = c.home, *listen, !*follow, !*portMap
	if cfg.UI == "off" {
		cfg.UI = ""
	}
	cfg.UIPassword = c.env.Getenv("KITH_UI_PASSWORD")
	if cfg.Rendezvous, err = rendezvousList(*rdv); err != nil {
		return err
	}
	if cfg.RendezvousCA != "" && !slices.ContainsFunc(cfg.Rendezvous, func(s string) bool { return strings.HasPrefix(s, "tls://") }) {
		return usagef("--rendezvous-ca %s: no tls:// rendezvous to verify with it", cfg.RendezvousCA)
	}
	if c.env.Daemon == nil {
		return errors.New("daemon is not available in this build")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return c.env.Daemon(ctx, cfg)
}

func runFriendAdd(ctx context.Context, c *call) error {
	fs := newFlags("friend add")
	name := fs.String("name", "", "")
	addr := fs.String("addr", "", "")
	var groups multi
	fs.Var(&groups, "group", "")
	pos, err := parse(fs, c.args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := identity.ParseID(pos[0]); err != nil {
		return usageError{err.Error()}
	}
	if *addr != "" {
		if _, _, err := net.SplitHostPort(*addr); err != nil {
			return usagef("--addr %q: want HOST:PORT", *addr)
		}
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		resp, err := cl.AddFriend(ctx, &localv1.AddFriendRequest{Friend: &localv1.Friend{
			Id: pos[0], Name: *name, Address: *addr, Groups: splitList(groups...)}})
		if err != nil {
			return err
		}
		verb := "updated"
		if resp.GetCreated() {
			verb = "added"
		}
		fmt.Fprintf(c.env.Stdout, "%s friend %s\n", verb, describeFriend(resp.GetFriend()))
		return nil
	})
}

func runFriendLs(ctx context.Context, c *call) error {
	fs := newFlags("friend ls")
	asJSON := fs.Bool("json", false, "")
	if _, err := parse(fs, c.args, 0, 0); err != nil {
		return err
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		resp, err := cl.ListFriends(ctx, &localv1.ListFriendsRequest{})
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(c.env.Stdout, friendsJSON(resp.GetFriends()))
		}
		printFriends(c.env.Stdout, resp.GetFriends())
		return nil
	})
}

func runFriendRm(ctx context.Context, c *call) error {
	pos, err := parse(newFlags("friend rm"), c.args, 1, 1)
	if err != nil {
		return err
	}
	if _, err := identity.ParseID(pos[0]); err != nil && looksLikeID(pos[0]) {
		return usageError{err.Error()}
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		friends, err := cl.ListFriends(ctx, &localv1.ListFriendsRequest{})
		if err != nil {
			return err
		}
		id, err := resolveFriend(friends.GetFriends(), pos[0])
		if err != nil {
			return err
		}
		if _, err := cl.RemoveFriend(ctx, &localv1.RemoveFriendRequest{Id: id}); err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "removed friend %s\n", nameAndID(friends.GetFriends(), id))
		return nil
	})
}

func runGroupLs(ctx context.Context, c *call) error {
	if _, err := parse(newFlags("group ls"), c.args, 0, 0); err != nil {
		return err
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		resp, err := cl.ListGroups(ctx, &localv1.ListGroupsRequest{})
		if err != nil {
			return err
		}
		friends, err := cl.ListFriends(ctx, &localv1.ListFriendsRequest{})
		if err != nil {
			return err
		}
		printGroups(c.env.Stdout, resp.GetGroups(), friends.GetFriends())
		return nil
	})
}

func runGroupAdd(ctx context.Context, c *call) error { return groupChange(ctx, c, "group add", true) }
func runGroupRm(ctx context.Context, c *call) error  { return groupChange(ctx, c, "group rm", false) }

func groupChange(ctx context.Context, c *call, name string, add bool) error {
	fs := newFlags(name)
	yes := fs.Bool("yes", false, "")
	pos, err := parse(fs, c.args, 2, -1)
	if err != nil {
		return err
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		friends, err := cl.ListFriends(ctx, &localv1.ListFriendsRequest{})
		if err != nil {
			return err
		}
		var ids []string
		for _, who := range pos[1:] {
			id, err := resolveFriend(friends.GetFriends(), who)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		req := &localv1.UpdateGroupRequest{Name: pos[0]}
		if add {
			req.Add = ids
		} else {
			req.Remove = ids
		}
		if add && !*yes {
			req.DryRun = true
			plan, err := cl.UpdateGroup(ctx, req)
			if err != nil {
				return err
			}
			if n := plan.GetNewlyVisible(); n > 0 {
				q := fmt.Sprintf("%s will now see %d of your existing posts (those for group %s). Go ahead? [y/N] ",
					whoList(friends.GetFriends(), ids), n, pos[0])
				if !c.ask(q) {
					return errors.New("nothing changed (pass --yes to skip this question)")
				}
			}
			req.DryRun = false
		}
		resp, err := cl.UpdateGroup(ctx, req)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "group %s: %d member(s)", resp.GetGroup().GetName(), len(resp.GetGroup().GetMemberIds()))
		if n := resp.GetNewlyVisible(); add && n > 0 {
			fmt.Fprintf(c.env.Stdout, "; %s can now see %d existing post(s)", whoList(friends.GetFriends(), ids), n)
		}
		fmt.Fprintln(c.env.Stdout)
		return nil
	})
}

func runPost(ctx context.Context, c *call) error {
	fs := newFlags("post")
	var to, attach multi
	fs.Var(&to, "to", "")
	fs.Var(&attach, "attach", "")
	pos, err := parse(fs, c.args, 1, -1)
	if err != nil {
		return err
	}
	text, err := c.postText(pos)
	if err != nil {
		return err
	}
	if strings.TrimSpace(text) == "" && len(attach) == 0 {
		return usagef("the post is empty: write some text (or attach a file)")
	}
	paths, err := checkAttachments(attach)
	if err != nil {
		return err
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		audience, err := resolveAudience(ctx, cl, splitList(to...))
		if err != nil {
			return err
		}
		resp, err := cl.CreatePost(ctx, &localv1.CreatePostRequest{Text: text, Audience: audience, AttachmentPaths: paths})
		if err != nil {
			return err
		}
		fmt.Fprintln(c.env.Stdout, resp.GetPost().GetId())
		return nil
	})
}

// postText is a post's text from its words, or from standard input when it is the
// single word "-" (for long posts, and posts written by other programs).
func (c *call) postText(words []string) (string, error) {
	if len(words) != 1 || words[0] != "-" {
		return strings.Join(words, " "), nil
	}
	if c.env.Stdin == nil {
		return "", errors.New("no standard input to read the post from")
	}
	b, err := io.ReadAll(io.LimitReader(c.env.Stdin, maxPostText+1))
	if err != nil {
		return "", fmt.Errorf("read the post from standard input: %w", err)
	}
	if len(b) > maxPostText {
		return "", fmt.Errorf("the post on standard input is longer than %d bytes", maxPostText)
	}
	if !utf8.Valid(b) {
		return "", errors.New("the post on standard input is not UTF-8 text")
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// maxPostText bounds what 'kith post -' reads; the daemon checks the real limit.
const maxPostText = 1 << 20

// checkAttachments refuses missing, unreadable, non-regular and too-big files before
// anything is sent, and makes paths absolute for the daemon.
func checkAttachments(paths []string) ([]string, error) {
	return checkFiles(paths, MaxAttachment, "1 GiB")
}

// checkFiles checks that each of paths is a readable regular file of at most limit bytes
// (limitText in a person's words) and returns their absolute paths.
func checkFiles(paths []string, limit int64, limitText string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("attach %s: %w", p, errors.Unwrap(err))
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("attach %s: not a regular file", p)
		}
		if st.Size() > limit {
			return nil, fmt.Errorf("attach %s: %s is too big; the limit is %s", p, humanBytes(uint64(st.Size())), limitText)
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("attach %s: %w", p, errors.Unwrap(err))
		}
		f.Close()
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("attach %s: %w", p, err)
		}
		out = append(out, abs)
	}
	return out, nil
}

func runEdit(ctx context.Context, c *call) error {
	pos, err := parse(newFlags("edit"), c.args, 2, -1)
	if err != nil {
		return err
	}
	text, err := c.postText(pos[1:])
	if err != nil {
		return err
	}
	if strings.TrimSpace(text) == "" {
		return usagef("the new text is empty: to delete the post, use 'kith rm %s'", pos[0])
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		resp, err := cl.EditPost(ctx, &localv1.EditPostRequest{PostId: pos[0], Text: text})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "edited %s (version %d)\n", resp.GetPost().GetId(), resp.GetPost().GetVersion())
		return nil
	})
}

func runRm(ctx context.Context, c *call) error {
	pos, err := parse(newFlags("rm"), c.args, 1, 1)
	if err != nil {
		return err
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		if _, err := cl.DeletePost(ctx, &localv1.DeletePostRequest{PostId: pos[0]}); err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "deleted %s\n", pos[0])
		return nil
	})
}

func runTimeline(ctx context.Context, c *call) error {
	fs := newFlags("timeline")
	asJSON := fs.Bool("json", false, "")
	tag := fs.String("tag", "", "")
	from := fs.String("from", "", "")
	if _, err := parse(fs, c.args, 0, 0); err != nil {
		return err
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		req := &localv1.TimelineRequest{Tag: strings.TrimPrefix(strings.ToLower(*tag), "#")}
		if *from != "" {
			friends, err := cl.ListFriends(ctx, &localv1.ListFriendsRequest{})
			if err != nil {
				return err
			}
			st, err := cl.Status(ctx, &localv1.StatusRequest{})
			if err != nil {
				return err
			}
			if req.FromId, err = resolveAuthor(friends.GetFriends(), st, *from); err != nil {
				return err
			}
		}
		resp, err := cl.Timeline(ctx, req)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(c.env.Stdout, timelineJSON(resp.GetPosts()))
		}
		printTimeline(c.env.Stdout, resp.GetPosts(), people(ctx, cl))
		return nil
	})
}

// people maps friends' IDs to their names and the person's own ID to "you", for
// naming mentions; empty when the daemon cannot say.
func people(ctx context.Context, cl localv1.LocalServiceClient) map[string]string {
	names := map[string]string{}
	if fs, err := cl.ListFriends(ctx, &localv1.ListFriendsRequest{}); err == nil {
		for _, f := range fs.GetFriends() {
			names[f.GetId()] = f.GetName()
		}
	}
	if st, err := cl.Status(ctx, &localv1.StatusRequest{}); err == nil {
		names[st.GetId()] = "you"
	}
	return names
}

func runSync(ctx context.Context, c *call) error {
	pos, err := parse(newFlags("sync"), c.args, 0, 1)
	if err != nil {
		return err
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		// The friends list only names the results, unless a name must be resolved
		// first: for every friend or for an ID the sync starts at once, the list
		// beside it (a local round trip less before the first packet leaves).
		req := &localv1.SyncRequest{}
		var (
			friends *localv1.ListFriendsResponse
			listErr error
			listed  = make(chan struct{})
		)
		list := func() {
			defer close(listed)
			friends, listErr = cl.ListFriends(ctx, &localv1.ListFriendsRequest{})
		}
		var byID identity.PublicKey
		named := len(pos) == 1
		if named {
			if k, err := identity.ParseID(pos[0]); err == nil {
				byID, req.FriendId, named = k, string(k.ID()), false
			}
		}
		if named {
			if list(); listErr != nil {
				return listErr
			}
			var err error
			if req.FriendId, err = resolveFriend(friends.GetFriends(), pos[0]); err != nil {
				return err
			}
		} else {
			go list()
		}
		stopMeter := c.syncMeter(ctx, cl)
		resp, err := cl.Sync(ctx, req)
		stopMeter()
		<-listed
		if status.Code(err) == codes.NotFound && byID != (identity.PublicKey{}) {
			return errNotFriend(byID)
		}
		if err != nil {
			return err
		}
		if listErr != nil {
			return listErr
		}
		return printSync(c.env.Stdout, resp.GetResults(), friends.GetFriends())
	})
}

// withDaemon dials the daemon, runs f, and maps its error for a person.
func (c *call) withDaemon(ctx context.Context, f func(localv1.LocalServiceClient) error) error {
	cl, done, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer done()
	return rpcError(c.home, f(cl))
}

func runStatus(ctx context.Context, c *call) error {
	fs := newFlags("status")
	asJSON := fs.Bool("json", false, "")
	if _, err := parse(fs, c.args, 0, 0); err != nil {
		return err
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		st, err := cl.Status(ctx, &localv1.StatusRequest{})
		if err != nil {
			return err
		}
		r := st.GetRendezvous()
		j := statusJSON{ID: st.GetId(), Listen: st.GetListenAddress(), Peers: []peerJSON{},
			Rendezvous: rendezvousJSON{Mode: r.GetMode(), Address: r.GetAddress(), Registered: r.GetRegistered(),
				Reflexive: r.GetReflexiveAddress(), Published: r.GetPublished(), Error: r.GetError()}}
		for _, p := range st.GetPeers() {
			j.Peers = append(j.Peers, peerJSON{ID: p.GetId(), Name: p.GetName(), Path: p.GetPath(), Remote: p.GetRemote(), Local: p.GetLocal(), LastSync: stamp(p.GetLastSyncUnixMs())})
		}
		j.Carry = carryJSONOf(st.GetCarry())
		if *asJSON {
			return writeJSON(c.env.Stdout, j)
		}
		fmt.Fprintf(c.env.Stdout, "id:          %s\nlistening:   %s\n", j.ID, orDash(j.Listen))
		if j.Rendezvous.Mode == "rendezvous" {
			printRendezvous(c.env.Stdout, j.Rendezvous)
		} else {
			fmt.Fprintln(c.env.Stdout, "rendezvous:  none (direct mode)")
		}
		if len(j.Peers) == 0 {
			fmt.Fprintln(c.env.Stdout, "connected:   nobody right now")
		}
		for _, p := range j.Peers {
			fmt.Fprintf(c.env.Stdout, "connected:   %s  %s via %s\n", orDash(p.Name), p.Remote, p.Path)
		}
		printCarry(c.env.Stdout, j.Carry)
		return nil
	})
}

// syncMeter shows, on a terminal, how many posts the running sync has stored so far, by
// asking the daemon every half second; the returned func stops it.
func (c *call) syncMeter(ctx context.Context, cl localv1.LocalServiceClient) func() {
	if _, ok := c.stderrTerminal(); !ok {
		return func() {} // nothing to draw: no call to the daemon before the sync
	}
	draw := c.meter("sync", func(done, _ uint64) string { return fmt.Sprintf("%d new or updated posts", done) })
	base, err := cl.SyncProgress(ctx, &localv1.SyncProgressRequest{})
	if err != nil {
		return func() {}
	}
	start := storedTotal(base)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if p, err := cl.SyncProgress(ctx, &localv1.SyncProgressRequest{}); err == nil {
				draw(storedTotal(p)-start, 0)
			}
		}
	}()
	return func() { cancel(); <-done }
}

func storedTotal(p *localv1.SyncProgressResponse) uint64 {
	var n uint64
	for _, f := range p.GetFriends() {
		n += f.GetStored()
	}
	return n
}

// rendezvousList parses --rendezvous: "none" or empty, or comma-separated HOST:PORT and
// tls://HOST:PORT entries.
func rendezvousList(flag string) ([]string, error) {
	r := strings.TrimSpace(flag)
	if r == "" || r == "none" {
		return nil, nil
	}
	var out []string
	for _, a := range splitList(r) {
		hp, _ := strings.CutPrefix(a, "tls://")
		if _, _, err := net.SplitHostPort(hp); err != nil || strings.Contains(hp, "://") {
			return nil, usagef("--rendezvous %q: want HOST:PORT or tls://HOST:PORT, comma-separated, or none", a)
		}
		out = append(out, a)
	}
	return out, nil
}
