package cli

import (
	"context"
	"fmt"
	"strings"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
	"github.com/kithnet/kith/shared/identity"
)

// resolveFriend turns a friend's ID or name into their ID. A well-formed ID of someone
// who is not a friend is an error; so is a name two friends share.
func resolveFriend(friends []*localv1.Friend, who string) (string, error) {
	if k, err := identity.ParseID(who); err == nil {
		for _, f := range friends {
			if sameID(f.GetId(), who) {
				return f.GetId(), nil
			}
		}
		return "", errNotFriend(k)
	}
	var match []string
	for _, f := range friends {
		if strings.EqualFold(f.GetName(), who) {
			match = append(match, f.GetId())
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		if _, err := identity.ParseID(who); looksLikeID(who) {
			return "", usageError{err.Error()}
		}
		return "", fmt.Errorf("no friend is called %q and it is not an ID (see 'kith friend ls')", who)
	}
	return "", fmt.Errorf("%d friends are called %q; use the ID instead: %s", len(match), who, quoteList(match))
}

// errNotFriend says that k is not a friend, and how to make it one.
func errNotFriend(k identity.PublicKey) error {
	return fmt.Errorf("%s is not one of your friends: add them with 'kith friend add %s'", k.ID(), k.ID())
}

// resolveAuthor is resolveFriend that also accepts the person's own ID, their own name
// or "me". A friend who shares the person's name is asked for by ID.
func resolveAuthor(friends []*localv1.Friend, self *localv1.StatusResponse, who string) (string, error) {
	if who == "me" || sameID(who, self.GetId()) {
		return self.GetId(), nil
	}
	if self.GetName() != "" && strings.EqualFold(who, self.GetName()) {
		for _, f := range friends {
			if strings.EqualFold(f.GetName(), who) {
				return "", fmt.Errorf("you and a friend are both called %q; use 'me' or the friend's ID", who)
			}
		}
		return self.GetId(), nil
	}
	return resolveFriend(friends, who)
}

// whoList names friends by name (or ID) in a list: "Bob and Carol".
func whoList(friends []*localv1.Friend, ids []string) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = id
		for _, f := range friends {
			if f.GetId() == id && f.GetName() != "" {
				names[i] = f.GetName()
			}
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// nameAndID names a person for a message: "Bob (ID)", or the ID alone.
func nameAndID(friends []*localv1.Friend, id string) string {
	for _, f := range friends {
		if f.GetId() == id && f.GetName() != "" {
			return f.GetName() + " (" + id + ")"
		}
	}
	return id
}

// resolveAudience turns --to words into audience elements: me, friends, public, then a
// group's name, then a friend's name or ID.
func resolveAudience(ctx context.Context, cl localv1.LocalServiceClient, to []string) ([]*localv1.Audience, error) {
	var out []*localv1.Audience
	var groups []*localv1.Group
	var friends []*localv1.Friend
	loaded := false
	for _, w := range to {
		switch strings.ToLower(w) {
		case "me":
			out = append(out, &localv1.Audience{Kind: localv1.AudienceKind_AUDIENCE_KIND_ME})
			continue
		case "friends":
			out = append(out, &localv1.Audience{Kind: localv1.AudienceKind_AUDIENCE_KIND_FRIENDS})
			continue
		case "public":
			out = append(out, &localv1.Audience{Kind: localv1.AudienceKind_AUDIENCE_KIND_PUBLIC})
			continue
		}
		if !loaded {
			g, err := cl.ListGroups(ctx, &localv1.ListGroupsRequest{})
			if err != nil {
				return nil, err
			}
			f, err := cl.ListFriends(ctx, &localv1.ListFriendsRequest{})
			if err != nil {
				return nil, err
			}
			groups, friends, loaded = g.GetGroups(), f.GetFriends(), true
		}
		if g := findGroup(groups, w); g != "" {
			out = append(out, &localv1.Audience{Kind: localv1.AudienceKind_AUDIENCE_KIND_GROUP, Group: g})
			continue
		}
		id, err := resolveFriend(friends, w)
		if err != nil {
			return nil, fmt.Errorf("--to %s: not me, friends, public, a group or a friend: %w", w, err)
		}
		out = append(out, &localv1.Audience{Kind: localv1.AudienceKind_AUDIENCE_KIND_FRIEND, FriendId: id})
	}
	return out, nil
}

func findGroup(groups []*localv1.Group, name string) string {
	for _, g := range groups {
		if strings.EqualFold(g.GetName(), name) {
			return g.GetName()
		}
	}
	return ""
}

// sameID reports whether two IDs, in any form ParseID accepts, name one key.
func sameID(a, b string) bool {
	ka, err := identity.ParseID(a)
	if err != nil {
		return false
	}
	kb, err := identity.ParseID(b)
	return err == nil && ka == kb
}

// looksLikeID reports whether a word that is not a friend's name was meant as an ID (it
// has an ID's length once grouping is dropped), so its parse error is the useful one.
func looksLikeID(who string) bool {
	n := len(strings.NewReplacer("-", "", " ", "").Replace(who))
	return n == identity.IDLen || n == identity.LegacyIDLen
}
