package main

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"mime"
	"os"
	"path/filepath"
	"slices"

	"github.com/kithnet/kith/peer/post"
	"github.com/kithnet/kith/peer/store"
	postv1 "github.com/kithnet/kith/proto/kith/post/v1"
	"github.com/kithnet/kith/shared/identity"
)

// open opens the home's store.
func (e *env) open() (*store.Store, error) {
	home, err := store.Home(e.home, e.getenv)
	if err != nil {
		return nil, err
	}
	return store.Open(store.Config{Home: home, Logger: slog.New(slog.NewTextHandler(e.stderr, nil))})
}

// withStore runs fn with the open store, closing it after.
func (e *env) withStore(fn func(*store.Store) error) error {
	st, err := e.open()
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

func cmdInit(e *env, args []string) error {
	fs := e.flags("init [--name NAME]", "create a new identity")
	name := fs.String("name", "", "your name, as friends see it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		return err
	}
	return e.withStore(func(st *store.Store) error {
		if err := st.Init(k, *name); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, k.ID())
		return nil
	})
}

func cmdID(e *env, args []string) error {
	if err := e.flags("id", "print my ID").Parse(args); err != nil {
		return err
	}
	return e.withStore(func(st *store.Store) error {
		k, err := st.Key()
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, k.ID())
		return nil
	})
}

func cmdFriend(e *env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: kith friend add|ls|rm", errUsage)
	}
	switch args[0] {
	case "add":
		fs := e.flags("friend add ID [--name N] [--addr HOST:PORT] [--group G]...", "add or update a friend")
		name := fs.String("name", "", "what you call them")
		addr := fs.String("addr", "", "their HOST:PORT, when known")
		var groups list
		fs.Var(&groups, "group", "a group they are in (repeatable)")
		if err := fs.Parse(reorder(args[1:])); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: kith friend add ID", errUsage)
		}
		k, err := identity.ParseID(fs.Arg(0))
		if err != nil {
			return err
		}
		return e.withStore(func(st *store.Store) error {
			return st.PutFriend(store.Friend{Key: k, Name: *name, Addr: *addr, Groups: groups})
		})
	case "ls":
		return e.withStore(func(st *store.Store) error {
			fs, err := st.Friends()
			for _, f := range fs {
				fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%v\n", f.Key.ID(), f.Name, f.Addr, f.Groups)
			}
			return err
		})
	case "rm":
		if len(args) != 2 {
			return fmt.Errorf("%w: kith friend rm ID", errUsage)
		}
		k, err := identity.ParseID(args[1])
		if err != nil {
			return err
		}
		return e.withStore(func(st *store.Store) error { return st.RemoveFriend(k) })
	}
	return fmt.Errorf("%w: unknown friend command %q", errUsage, args[0])
}

func cmdGroup(e *env, args []string) error {
	if len(args) == 0 || args[0] != "ls" && len(args) < 2 {
		return fmt.Errorf("%w: kith group ls | group add NAME ID... | group rm NAME ID...", errUsage)
	}
	if args[0] == "ls" {
		return e.withStore(func(st *store.Store) error {
			gs, err := st.Groups()
			for _, g := range gs {
				fmt.Fprintln(e.stdout, g)
			}
			return err
		})
	}
	if args[0] != "add" && args[0] != "rm" {
		return fmt.Errorf("%w: unknown group command %q", errUsage, args[0])
	}
	name := args[1]
	if err := store.CheckGroupName(name); err != nil {
		return err
	}
	return e.withStore(func(st *store.Store) error {
		if err := st.AddGroup(name); err != nil {
			return err
		}
		for _, s := range args[2:] {
			k, err := identity.ParseID(s)
			if err != nil {
				return err
			}
			f, err := st.Friend(k)
			if err != nil {
				return err
			}
			f.Groups = slices.DeleteFunc(f.Groups, func(g string) bool { return g == name })
			if args[0] == "add" {
				f.Groups = append(f.Groups, name)
			}
			if err := st.PutFriend(f); err != nil {
				return err
			}
		}
		return nil
	})
}

func cmdPost(e *env, args []string) error {
	fs := e.flags("post [--to me|friends|public|GROUP|NAME|ID]... [--attach FILE]... TEXT", "publish a post; prints its id")
	var to, attach list
	fs.Var(&to, "to", "who may see it (repeatable; default friends)")
	fs.Var(&attach, "attach", "a file to attach (repeatable)")
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: kith post [flags] TEXT (quote the text)", errUsage)
	}
	return e.withStore(func(st *store.Store) error {
		a, err := st.ResolveAudience(to)
		if err != nil {
			return err
		}
		var atts []*postv1.Attachment
		for _, path := range attach {
			att, err := attachFile(st, path)
			if err != nil {
				return err
			}
			atts = append(atts, att)
		}
		id, err := st.Publish(store.NewPost{Text: fs.Arg(0), Attachments: atts, Audience: a})
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, id)
		return nil
	})
}

func attachFile(st *store.Store, path string) (*postv1.Attachment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	if info.Size() > post.MaxAttachmentSize {
		return nil, fmt.Errorf("attach %s: %d bytes, the limit is 1 GiB", path, info.Size())
	}
	att, err := st.PutBlob(f)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", path, err)
	}
	att.FileName = filepath.Base(path)
	att.MediaType = mime.TypeByExtension(filepath.Ext(path))
	if att.MediaType == "" {
		att.MediaType = "application/octet-stream"
	}
	return att, nil
}

func cmdEdit(e *env, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("%w: kith edit POST_ID TEXT", errUsage)
	}
	id, err := post.ParseIDString(args[0])
	if err != nil {
		return err
	}
	return e.withStore(func(st *store.Store) error { return st.Edit(id, args[1]) })
}

func cmdRm(e *env, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: kith rm POST_ID", errUsage)
	}
	id, err := post.ParseIDString(args[0])
	if err != nil {
		return err
	}
	return e.withStore(func(st *store.Store) error { return st.Delete(id) })
}

// reorder moves flags before positional arguments, so `friend add ID --name N` parses.
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			if !containsEq(a) && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			pos = append(pos, a)
		}
	}
	return append(append(flags, "--"), pos...)
}

func containsEq(s string) bool {
	for _, c := range s {
		if c == '=' {
			return true
		}
	}
	return false
}
