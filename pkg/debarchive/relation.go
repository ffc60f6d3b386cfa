package debarchive

import (
	"fmt"
	"strings"
)

// Op is a version relation operator.
type Op string

// The operators of deb-control(5); "<" and ">" are the obsolete spellings
// of "<=" and ">=".
const (
	OpNone Op = ""
	OpLT   Op = "<<"
	OpLE   Op = "<="
	OpEQ   Op = "="
	OpGE   Op = ">="
	OpGT   Op = ">>"
)

// Relation is one alternative in a dependency field: a package name, an
// optional architecture qualifier and an optional version constraint.
type Relation struct {
	Name    string
	ArchQ   string // "any", "native" or an architecture, from "name:qual"
	Op      Op
	Version Version
}

func (r Relation) String() string {
	s := r.Name
	if r.ArchQ != "" {
		s += ":" + r.ArchQ
	}
	if r.Op != OpNone {
		s += " (" + string(r.Op) + " " + r.Version.String() + ")"
	}
	return s
}

// Satisfied reports whether version v meets the constraint.
func (r Relation) Satisfied(v Version) bool {
	c := Compare(v, r.Version)
	switch r.Op {
	case OpNone:
		return true
	case OpLT:
		return c < 0
	case OpLE:
		return c <= 0
	case OpEQ:
		return c == 0
	case OpGE:
		return c >= 0
	case OpGT:
		return c > 0
	}
	return false
}

// Alternatives is "a | b | c": satisfied by any one of them.
type Alternatives []Relation

func (a Alternatives) String() string {
	s := make([]string, len(a))
	for i, r := range a {
		s[i] = r.String()
	}
	return strings.Join(s, " | ")
}

// ParseRelations parses a Depends-style field: comma-separated groups of
// "|"-separated alternatives. Architecture restrictions ("[amd64]") and
// build profiles ("<!nocheck>"), which only appear in source packages, are
// refused for binary indexes.
func ParseRelations(field string) ([]Alternatives, error) {
	var out []Alternatives
	if strings.TrimSpace(field) == "" {
		return nil, nil
	}
	for group := range strings.SplitSeq(field, ",") {
		var alts Alternatives
		for alt := range strings.SplitSeq(group, "|") {
			r, err := parseRelation(strings.TrimSpace(alt))
			if err != nil {
				return nil, fmt.Errorf("relation %q: %w", strings.TrimSpace(group), err)
			}
			alts = append(alts, r)
		}
		out = append(out, alts)
	}
	return out, nil
}

func parseRelation(s string) (Relation, error) {
	var r Relation
	name, rest := s, ""
	if i := strings.IndexAny(s, " \t("); i >= 0 {
		name, rest = s[:i], strings.TrimSpace(s[i:])
	}
	if i := strings.IndexByte(name, ':'); i >= 0 {
		name, r.ArchQ = name[:i], name[i+1:]
		if r.ArchQ == "" {
			return r, fmt.Errorf("empty architecture qualifier")
		}
	}
	if !validName(name) {
		return r, fmt.Errorf("%q is not a package name", name)
	}
	r.Name = name
	if rest == "" {
		return r, nil
	}
	if rest[0] != '(' || rest[len(rest)-1] != ')' {
		return r, fmt.Errorf("want \"name (op version)\", got %q", s)
	}
	inner := strings.TrimSpace(rest[1 : len(rest)-1])
	opEnd := 0
	for opEnd < len(inner) && strings.IndexByte("<>=", inner[opEnd]) >= 0 {
		opEnd++
	}
	switch op := inner[:opEnd]; op {
	case "<<", "<=", "=", ">=", ">>":
		r.Op = Op(op)
	case "<":
		r.Op = OpLE
	case ">":
		r.Op = OpGE
	default:
		return r, fmt.Errorf("unknown operator %q", op)
	}
	v, err := ParseVersion(strings.TrimSpace(inner[opEnd:]))
	if err != nil {
		return r, err
	}
	r.Version = v
	return r, nil
}

func validName(s string) bool {
	if len(s) < 2 || !(isDigit(s[0]) || s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || c >= 'a' && c <= 'z' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
