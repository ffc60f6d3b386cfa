package imagespec

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// No maintainer scripts run in a hardenvm build, so the account databases
// are generated from the spec alone: root plus the declared users and
// groups, sorted by id, every password locked.

type account struct {
	name string
	id   int
	line string
}

// PasswdFile returns the contents of /etc/passwd.
func (s *Spec) PasswdFile() []byte {
	gid := s.gids()
	accts := []account{{"root", 0, "root:x:0:0:root:/root:/bin/sh"}}
	for _, u := range s.Users {
		accts = append(accts, account{u.Name, u.UID, fmt.Sprintf("%s:x:%d:%d:%s:%s:%s", u.Name, u.UID, gid[u.Group], u.Name, u.Home, u.Shell)})
	}
	return render(accts)
}

// ShadowFile returns /etc/shadow: every account locked (no password login).
func (s *Spec) ShadowFile() []byte {
	accts := []account{{"root", 0, "root:!::0:99999:7:::"}}
	for _, u := range s.Users {
		accts = append(accts, account{u.Name, u.UID, u.Name + ":!::0:99999:7:::"})
	}
	return render(accts)
}

// GroupFile returns /etc/group, with each group's supplementary members.
func (s *Spec) GroupFile() []byte {
	members := map[string][]string{}
	for _, u := range s.Users {
		for _, g := range u.Groups {
			members[g] = append(members[g], u.Name)
		}
	}
	accts := []account{{"root", 0, "root:x:0:" + strings.Join(sorted(members["root"]), ",")}}
	for _, g := range s.Groups {
		accts = append(accts, account{g.Name, g.GID, fmt.Sprintf("%s:x:%d:%s", g.Name, g.GID, strings.Join(sorted(members[g.Name]), ","))})
	}
	return render(accts)
}

// UID resolves an owner field (a user name or number; "" is root).
func (s *Spec) UID(owner string) (int, error) {
	if owner == "" || owner == "root" {
		return 0, nil
	}
	for _, u := range s.Users {
		if u.Name == owner {
			return u.UID, nil
		}
	}
	if n, err := strconv.ParseUint(owner, 10, 32); err == nil {
		return int(n), nil
	}
	return 0, fmt.Errorf("spec %s: user %q is not declared", s.Path, owner)
}

// GID resolves a group field (a group name or number; "" is root).
func (s *Spec) GID(group string) (int, error) {
	if g, ok := s.gids()[group]; ok {
		return g, nil
	}
	if n, err := strconv.ParseUint(group, 10, 32); err == nil {
		return int(n), nil
	}
	return 0, fmt.Errorf("spec %s: group %q is not declared", s.Path, group)
}

func (s *Spec) gids() map[string]int {
	m := map[string]int{"": 0, "root": 0}
	for _, g := range s.Groups {
		m[g.Name] = g.GID
	}
	return m
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func render(accts []account) []byte {
	slices.SortStableFunc(accts, func(a, b account) int { return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.name, b.name)) })
	var b strings.Builder
	for _, a := range accts {
		b.WriteString(a.line + "\n")
	}
	return []byte(b.String())
}
