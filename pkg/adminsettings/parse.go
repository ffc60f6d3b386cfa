package adminsettings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// MaxSize bounds the settings file: a file this large is not an admin's
// hand-written settings.
const MaxSize = 1 << 20

// Parse decodes admin-settings.json strictly (see the package doc) and
// validates the result. Errors name the key path, e.g.
// "enhancedContainerIsolation.dockerSocketMount.imageList.images[1]: want
// a string, got a number".
func Parse(b []byte) (Settings, error) {
	s, err := Decode(b)
	if err != nil {
		return Settings{}, err
	}
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// Decode parses strictly without validating (for tools that show what a
// file says before refusing it).
func Decode(b []byte) (Settings, error) {
	if len(b) > MaxSize {
		return Settings{}, fmt.Errorf("admin settings: %d bytes, more than the %d allowed", len(b), MaxSize)
	}
	if err := checkShape(b, reflect.TypeFor[Settings](), ""); err != nil {
		return Settings{}, fmt.Errorf("admin settings: %w", err)
	}
	var s Settings
	if err := json.Unmarshal(b, &s); err != nil {
		// checkShape accepted it: this is a bug, not bad input.
		return Settings{}, fmt.Errorf("admin settings: BUG: decoding after the shape check: %w", err)
	}
	return s, nil
}

// UnmarshalJSON accepts the daemon options as an object or, as Docker
// Desktop writes them, as a string holding a JSON object.
func (d *DaemonOptions) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	type plain DaemonOptions
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode((*plain)(d))
}

// checkShape walks the JSON document against type t: every key known,
// none repeated, every value of the right JSON type, nothing after the
// document.
func checkShape(b []byte, t reflect.Type, path string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	w := &walker{dec: dec}
	if err := w.value(t, path); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: trailing data after the JSON document", orTop(path))
	}
	return nil
}

type walker struct{ dec *json.Decoder }

var daemonOptionsType = reflect.TypeFor[DaemonOptions]()

func orTop(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

func (w *walker) token(path string) (json.Token, error) {
	tok, err := w.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%s: invalid JSON at byte %d: %v", orTop(path), se.Offset, err)
		}
		return nil, fmt.Errorf("%s: invalid JSON: %w", orTop(path), err)
	}
	return tok, nil
}

// value checks one value of type t.
func (w *walker) value(t reflect.Type, path string) error {
	tok, err := w.token(path)
	if err != nil {
		return err
	}
	nullable := false
	for t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	if tok == nil && (nullable || t.Kind() == reflect.Slice || t.Kind() == reflect.Map) {
		return nil
	}
	if t == daemonOptionsType {
		if s, ok := tok.(string); ok {
			// Docker Desktop's form: the options as a JSON string.
			return checkShape([]byte(s), t, path)
		}
	}
	want := ""
	switch t.Kind() {
	case reflect.Struct:
		if tok == json.Delim('{') {
			return w.object(t, path)
		}
		want = "an object"
	case reflect.Map:
		if tok == json.Delim('{') {
			return w.object(t, path)
		}
		want = "an object"
	case reflect.Slice:
		if tok == json.Delim('[') {
			for i := 0; w.dec.More(); i++ {
				if err := w.value(t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			_, err := w.token(path)
			return err
		}
		want = "an array"
	case reflect.String:
		if _, ok := tok.(string); ok {
			return nil
		}
		want = "a string"
	case reflect.Bool:
		if _, ok := tok.(bool); ok {
			return nil
		}
		want = "true or false"
	case reflect.Int:
		if n, ok := tok.(json.Number); ok {
			if _, err := n.Int64(); err == nil {
				return nil
			}
			return fmt.Errorf("%s: want a whole number, got %s", orTop(path), n)
		}
		want = "a whole number"
	default:
		return fmt.Errorf("BUG: adminsettings: no shape for %v at %s", t, path)
	}
	return fmt.Errorf("%s: want %s, got %s", orTop(path), want, describe(tok))
}

// object checks the members of an object whose '{' was read: t is a
// struct (keys from its json tags) or a map (any key).
func (w *walker) object(t reflect.Type, path string) error {
	var fields map[string]reflect.Type
	if t.Kind() == reflect.Struct {
		fields = map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
	}
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.token(path)
		if err != nil {
			return err
		}
		key := tok.(string) // the decoder only returns string keys
		kp := join(path, key)
		if seen[key] {
			return fmt.Errorf("%s: given twice", kp)
		}
		seen[key] = true
		vt := t.Elem // for maps
		var ft reflect.Type
		if fields != nil {
			var ok bool
			if ft, ok = fields[key]; !ok {
				return fmt.Errorf("%s: unknown key%s", kp, hint(t, key))
			}
		} else {
			ft = vt()
		}
		if err := w.value(ft, kp); err != nil {
			return err
		}
	}
	_, err := w.token(path)
	return err
}

// hint says why a well-known daemon.json key is not accepted.
func hint(t reflect.Type, key string) string {
	if t != daemonOptionsType {
		return ""
	}
	switch key {
	case "tlscacert", "tlscert", "tlskey":
		return " (the image sets it to the TLS material in the config partition)"
	case "proxies":
		return " (set the proxy with the top-level proxy setting)"
	case "data-root", "exec-root", "pidfile", "containerd", "cgroup-parent":
		return " (fixed by the image)"
	case "allow-nondistributable-artifacts", "labels", "group":
		return " (not supported in a hardenvm VM)"
	}
	return " (not in the supported daemon.json subset)"
}
