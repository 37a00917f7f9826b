package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kithnet/kith/peer/backup"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	"github.com/kithnet/kith/shared/identity"
)

func runKeyExport(ctx context.Context, c *call) error {
	fs := newFlags("key export")
	out := fs.String("out", "", "")
	fs.StringVar(&c.passFile, "passphrase-file", "", "")
	if _, err := parse(fs, c.args, 0, 0); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out FILE is required")
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		pass, err := c.passphrase("Passphrase for the key backup: ", true)
		if err != nil {
			return err
		}
		resp, err := cl.ExportKey(ctx, &localv1.ExportKeyRequest{})
		if err != nil {
			return err
		}
		k, err := identity.FromSeed(resp.GetSeed())
		if err != nil {
			return err
		}
		if err := identity.WriteKeyFile(*out, k, identity.KeyFileOptions{Passphrase: pass, ScryptWorkFactor: backup.WorkFactor()}); err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "key of %s written to %s (encrypted)\n", k.ID(), *out)
		return nil
	})
}

func runExport(ctx context.Context, c *call) error {
	fs := newFlags("export")
	out := fs.String("out", "", "")
	fs.StringVar(&c.passFile, "passphrase-file", "", "")
	if _, err := parse(fs, c.args, 0, 0); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out FILE is required")
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s already exists; refusing to overwrite it", *out)
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		pass, err := c.passphrase("Passphrase for the export: ", true)
		if err != nil {
			return err
		}
		stream, err := cl.ExportHome(ctx, &localv1.ExportHomeRequest{})
		if err != nil {
			return err
		}
		n, err := writeEncrypted(*out, pass, backup.WorkFactor(), func(w io.Writer, progress func(done, total uint64)) (uint64, error) {
			var n uint64
			for {
				msg, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					return n, nil
				}
				if err != nil {
					return n, err
				}
				if _, err := w.Write(msg.GetChunk()); err != nil {
					return n, err
				}
				n += uint64(len(msg.GetChunk()))
				progress(n, msg.GetTotal())
			}
		}, c.progress("export"))
		if err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "exported %s to %s (encrypted)\n", humanBytes(n), *out)
		return nil
	})
}

// writeEncrypted writes what fill writes as an export (backup.Encrypt), age-encrypted under pass, to a
// temporary file beside path, and moves it into place only when all went well.
func writeEncrypted(path string, pass []byte, workFactor int,
	fill func(io.Writer, func(done, total uint64)) (uint64, error), progress func(done, total uint64)) (uint64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".kith-export-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	w, err := backup.Encrypt(bw, pass, workFactor)
	if err != nil {
		return 0, err
	}
	n, err := fill(w, progress)
	if err != nil {
		return n, err
	}
	if err := w.Close(); err != nil {
		return n, err
	}
	if err := bw.Flush(); err != nil {
		return n, err
	}
	if err := tmp.Sync(); err != nil {
		return n, err
	}
	if err := tmp.Chmod(0o600); err != nil {
		return n, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return n, fmt.Errorf("write %s: %w", path, err)
	}
	return n, nil
}

func runImport(ctx context.Context, c *call) error {
	fs := newFlags("import")
	fs.StringVar(&c.passFile, "passphrase-file", "", "")
	pos, err := parse(fs, c.args, 1, 1)
	if err != nil {
		return err
	}
	if c.env.Import == nil {
		return errors.New("import is not available in this build")
	}
	if entries, err := os.ReadDir(c.home); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty; import restores into a fresh home only (pass --home NEWDIR)", c.home)
	}
	src, err := os.Open(pos[0])
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer src.Close()
	pass, err := c.passphrase("Passphrase of the export: ", false)
	if err != nil {
		return err
	}
	createdHome := false
	if _, err := os.Stat(c.home); errors.Is(err, os.ErrNotExist) {
		createdHome = true
	}
	if err := os.MkdirAll(c.home, 0o700); err != nil {
		return err
	}
	snapshot, err := decryptTo(c.home, src, pass, c.progress("import"))
	if err == nil {
		err = c.env.Import(ctx, c.home, snapshot)
		os.Remove(snapshot)
	}
	if err != nil {
		if createdHome {
			os.RemoveAll(c.home)
		}
		return fmt.Errorf("import %s: %w; nothing was written", pos[0], err)
	}
	fmt.Fprintf(c.env.Stdout, "imported %s into %s; start it with 'kith --home %s daemon'\n", pos[0], c.home, c.home)
	return nil
}

// decryptTo decrypts an export into a temporary file in dir and returns its path. age
// authenticates every chunk and the end of the stream, so a corrupted or truncated file
// fails here, before anything is installed.
func decryptTo(dir string, src *os.File, pass []byte, progress func(done, total uint64)) (string, error) {
	st, _ := src.Stat()
	r, err := backup.Decrypt(bufio.NewReaderSize(src, 1<<20), pass)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".import-*")
	if err != nil {
		return "", err
	}
	defer tmp.Close()
	counting := &countingReader{r: r, progress: progress, total: uint64(st.Size())}
	if _, err := io.Copy(tmp, counting); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("damaged or truncated: %v", err)
	}
	if err := tmp.Sync(); err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

type countingReader struct {
	r        io.Reader
	n, total uint64
	progress func(done, total uint64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	c.progress(c.n, c.total)
	return n, err
}

func runRecover(ctx context.Context, c *call) error {
	fs := newFlags("recover")
	from := fs.String("from", "", "")
	addr := fs.String("addr", "", "")
	if _, err := parse(fs, c.args, 0, 0); err != nil {
		return err
	}
	if *from != "" {
		if _, err := identity.ParseID(*from); err != nil {
			return usageError{err.Error()}
		}
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		stream, err := cl.Recover(ctx, &localv1.RecoverRequest{FromId: *from, Address: *addr})
		if err != nil {
			return err
		}
		draw := c.meter("recover", func(done, total uint64) string { return fmt.Sprintf("%d of %d friends asked", done, total) })
		var asked, friends uint64
		for {
			msg, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return errors.New("recovery ended without a result")
			}
			if err == nil && !msg.GetDone() {
				asked++
				friends = max(friends, uint64(msg.GetFriends()), asked) // the kit lists every friend, the first one asked too
				draw(asked, friends)
			}
			if err != nil {
				return err
			}
			switch {
			case msg.GetDone():
				printRecovered(c.env.Stdout, msg)
				return nil
			case msg.GetError() != "":
				fmt.Fprintf(c.env.Stdout, "%s: could not help: %s\n", msg.GetFriendId(), msg.GetError())
			case msg.GetKitCreatedUnixMs() != 0:
				fmt.Fprintf(c.env.Stdout, "%s: recovery kit with %d friend(s), made %s\n", msg.GetFriendId(), msg.GetFriends(), kitTime(msg.GetKitCreatedUnixMs()))
			default:
				fmt.Fprintf(c.env.Stdout, "%s: %d post(s) back, signatures verified\n", msg.GetFriendId(), msg.GetPosts())
			}
		}
	})
}

// printRecovered says what recovery did: the kit it used, the totals, the posts whose
// audience was not known (kept for the person alone), and the posts that did not come
// back, each named.
func printRecovered(w io.Writer, msg *localv1.RecoverResponse) {
	if msg.GetKitFrom() != "" {
		fmt.Fprintf(w, "used the recovery kit of %s from %s (the newest of %d copies)\n",
			kitTime(msg.GetKitCreatedUnixMs()), msg.GetKitFrom(), msg.GetKitsSeen())
	} else {
		fmt.Fprintln(w, "no friend keeps a recovery kit of yours: friends, groups and audiences could not come back")
	}
	fmt.Fprintf(w, "recovered %d post(s) and %d friend(s)\n", msg.GetPosts(), msg.GetFriends())
	if n := msg.GetNarrowed(); n > 0 {
		fmt.Fprintf(w, "%d post(s) whose audience is unknown are kept for you alone, as if posted --to me\n", n)
	}
	if lost := msg.GetLost(); len(lost) > 0 {
		fmt.Fprintf(w, "%d post(s) could not come back: no friend holds them\n", len(lost))
		for _, p := range lost {
			fmt.Fprintf(w, "  %s  %s  to %s", p.GetId(), kitTime(p.GetCreatedUnixMs()), p.GetAudience())
			if p.GetSummary() != "" {
				fmt.Fprintf(w, "  %q", p.GetSummary())
			}
			fmt.Fprintln(w)
		}
	}
}

// kitTime formats a kit's or a post's Unix millisecond time for a person.
func kitTime(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05 UTC") }
