package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kithnet/kith/peer/store"
	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// runSave writes a post's attachments into a directory under their own names.
func runSave(ctx context.Context, c *call) error {
	pos, err := parse(newFlags("save"), c.args, 1, 2)
	if err != nil {
		return err
	}
	dir := "."
	if len(pos) == 2 {
		dir = pos[1]
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("save into %s: not a directory", dir)
	}
	return c.withDaemon(ctx, func(cl localv1.LocalServiceClient) error {
		tl, err := cl.Timeline(ctx, &localv1.TimelineRequest{})
		if err != nil {
			return err
		}
		var p *localv1.TimelinePost
		for _, q := range tl.GetPosts() {
			if strings.EqualFold(q.GetId(), pos[0]) {
				p = q
			}
		}
		if p == nil {
			return fmt.Errorf("no post %s in your timeline (see 'kith timeline')", pos[0])
		}
		if len(p.GetAttachments()) == 0 {
			return fmt.Errorf("post %s has no attachments", p.GetId())
		}
		for _, a := range p.GetAttachments() {
			if !a.GetPresent() {
				fmt.Fprintf(c.env.Stderr, "kith save: %s is not fetched yet; 'kith sync' brings it\n", a.GetFileName())
				continue
			}
			out, err := saveBlob(c.home, a, dir)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.env.Stdout, out)
		}
		return nil
	})
}

// saveBlob copies one attachment to dir under its file name (a name that is taken gets
// " (2)", " (3)"... before its extension), checking its SHA-256 on the way.
func saveBlob(home string, a *localv1.TimelineAttachment, dir string) (string, error) {
	sum, err := hex.DecodeString(a.GetSha256())
	if err != nil || len(sum) != sha256.Size {
		return "", fmt.Errorf("attachment %s: not a SHA-256", a.GetSha256())
	}
	in, err := os.Open(store.BlobPath(home, sum))
	if err != nil {
		return "", fmt.Errorf("attachment %s: %w", a.GetFileName(), err)
	}
	defer in.Close()
	name := filepath.Base(filepath.Clean("/" + a.GetFileName())) // never a path: the name came from the author
	if name == "/" || name == "." || name == "" {
		name = a.GetSha256()
	}
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	var out *os.File
	var path string
	for i := 1; ; i++ {
		path = filepath.Join(dir, name)
		if i > 1 {
			path = filepath.Join(dir, fmt.Sprintf("%s (%d)%s", stem, i, ext))
		}
		out, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, os.ErrExist) || i > 1000 {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("save %s: %w", name, err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && !bytes.Equal(h.Sum(nil), sum) {
		err = errors.New("the stored bytes do not match their hash (a damaged disk?)")
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("save %s: %w", name, err)
	}
	return path, nil
}
