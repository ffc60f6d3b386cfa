package imagespec

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is a mistake in a spec (or lock) file, located by file, line and
// field path (like "users[1].uid"), so the message tells the author exactly
// what to fix.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		return loc + ": " + e.Field + ": " + e.Msg
	}
	return loc + ": " + e.Msg
}

// nodeUnmarshaler is implemented by field types that parse their own scalar
// (modes, capability sets). The returned error's text becomes Error.Msg.
type nodeUnmarshaler interface {
	unmarshalNode(n *yaml.Node) error
}

// decoder maps a yaml.Node tree onto Go structs strictly: unknown keys,
// duplicate keys, anchors/aliases and wrongly typed values are errors that
// name the line and the field. yaml.v3's own Decode reports unknown fields
// without the path and accepts aliases (which can explode in size), so the
// walk is done here.
type decoder struct {
	file  string
	lines map[string]int // field path -> line, for later validation errors
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) error {
	return &Error{File: d.file, Line: n.Line, Field: path, Msg: fmt.Sprintf(format, args...)}
}

var nodeType = reflect.TypeFor[yaml.Node]()

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	if d.lines != nil {
		d.lines[path] = n.Line
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return d.errorf(n, path, "YAML anchors and aliases are not supported; write the value out")
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return nil
	}
	if u, ok := v.Addr().Interface().(nodeUnmarshaler); ok {
		if n.Kind != yaml.ScalarNode {
			return d.errorf(n, path, "want a single value, got %s", kindName(n))
		}
		if err := u.unmarshalNode(n); err != nil {
			return d.errorf(n, path, "%v", err)
		}
		return nil
	}
	if isNull(n) {
		return nil // an empty value leaves the zero value (and its default)
	}
	switch v.Kind() {
	case reflect.Pointer: // an optional struct: present when written
		p := reflect.New(v.Type().Elem())
		if err := d.decode(n, p.Elem(), path); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Struct:
		return d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.errorf(n, path, "want a list, got %s", kindName(n))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			if err := d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return d.errorf(n, path, "want a mapping, got %s", kindName(n))
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key, err := d.key(k, path)
			if err != nil {
				return err
			}
			if m.MapIndex(reflect.ValueOf(key)).IsValid() {
				return d.errorf(k, join(path, key), "duplicate key %q", key)
			}
			e := reflect.New(v.Type().Elem()).Elem()
			if err := d.decode(val, e, join(path, key)); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(key), e)
		}
		v.Set(m)
		return nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode || !slices.Contains([]string{"!!str", "!!int", "!!float", "!!bool"}, n.ShortTag()) {
			return d.errorf(n, path, "want a string, got %s", kindName(n))
		}
		v.SetString(n.Value)
		return nil
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			return d.errorf(n, path, "want true or false, got %s", kindName(n))
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			return d.errorf(n, path, "want true or false, got %q", n.Value)
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			return d.errorf(n, path, "want a whole number, got %s", kindName(n))
		}
		i, err := strconv.ParseInt(n.Value, 10, v.Type().Bits())
		if err != nil {
			return d.errorf(n, path, "want a decimal whole number, got %q", n.Value)
		}
		v.SetInt(i)
		return nil
	}
	return d.errorf(n, path, "BUG: no decoder for Go type %s", v.Type())
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return d.errorf(n, path, "want a mapping (key: value lines), got %s", kindName(n))
	}
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == "Line" && f.Type.Kind() == reflect.Int {
			v.Field(i).SetInt(int64(n.Line))
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = i
		names = append(names, tag)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key, err := d.key(k, path)
		if err != nil {
			return err
		}
		idx, ok := fields[key]
		if !ok {
			if now, ok := renamed[join(path, key)]; ok {
				return d.errorf(k, join(path, key), "replaced by %s", now)
			}
			return d.errorf(k, join(path, key), "unknown field (want one of: %s)", strings.Join(names, ", "))
		}
		if seen[key] {
			return d.errorf(k, join(path, key), "field given twice")
		}
		seen[key] = true
		if err := d.decode(val, v.Field(idx), join(path, key)); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) key(k *yaml.Node, path string) (string, error) {
	if k.Kind != yaml.ScalarNode || k.Anchor != "" || k.Tag == "!!merge" {
		return "", d.errorf(k, path, "keys must be plain words, got %s", kindName(k))
	}
	return k.Value, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unexpected YAML node"
}

// renamed are fields of earlier spec versions and what took their place.
var renamed = map[string]string{
	"debian.suite": "debian.suites, a list such as [trixie, trixie-updates, trixie-security] (security updates come from their own suite)",
}
