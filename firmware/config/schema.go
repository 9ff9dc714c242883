package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// kind is how a field is written in the file.
type kind int

const (
	kindString kind = iota
	kindSecret
	kindBool
	kindInt
	kindDuration
	kindSize
	kindStrings
)

// field describes one key of the file.
type field struct {
	section, name string // "sync", "interval"
	key           string // "sync.interval"
	index         []int  // reflect path from Config
	kind          kind
}

type section struct {
	name   string
	fields []*field
}

// fileSchema is the file's layout, derived once from Config's toml tags.
type fileSchema struct {
	sections []*section
	fields   []*field          // in file order
	byKey    map[string]*field // "sync.interval"
	bySec    map[string]*section
}

var schema = buildSchema()

var (
	durationType = reflect.TypeFor[time.Duration]()
	sizeType     = reflect.TypeFor[Size]()
)

func buildSchema() *fileSchema {
	s := &fileSchema{byKey: map[string]*field{}, bySec: map[string]*section{}}
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		sf := ct.Field(i)
		sec := &section{name: sf.Tag.Get("toml")}
		for j := range sf.Type.NumField() {
			ff := sf.Type.Field(j)
			name := ff.Tag.Get("toml")
			if name == "" || !ff.IsExported() {
				continue
			}
			f := &field{section: sec.name, name: name, key: sec.name + "." + name, index: []int{i, j}}
			switch {
			case ff.Type == secretType:
				f.kind = kindSecret
			case ff.Type == durationType:
				f.kind = kindDuration
			case ff.Type == sizeType:
				f.kind = kindSize
			case ff.Type.Kind() == reflect.String:
				f.kind = kindString
			case ff.Type.Kind() == reflect.Bool:
				f.kind = kindBool
			case ff.Type.Kind() == reflect.Int || ff.Type.Kind() == reflect.Int64:
				f.kind = kindInt
			case ff.Type.Kind() == reflect.Slice && ff.Type.Elem().Kind() == reflect.String:
				f.kind = kindStrings
			default:
				panic(fmt.Sprintf("config: field %s has unsupported type %s", f.key, ff.Type))
			}
			sec.fields = append(sec.fields, f)
			s.fields = append(s.fields, f)
			s.byKey[f.key] = f
		}
		s.sections = append(s.sections, sec)
		s.bySec[sec.name] = sec
	}
	return s
}

// Keys returns every key of the file, "section.key", in file order.
func Keys() []string {
	keys := make([]string, len(schema.fields))
	for i, f := range schema.fields {
		keys[i] = f.key
	}
	return keys
}

// IsSecret reports whether key ("section.key") holds a secret.
func IsSecret(key string) bool {
	f := schema.byKey[key]
	return f != nil && f.kind == kindSecret
}

func (f *field) value(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(f.index)
}

// tomlTypeName names the TOML type of a decoded value, for messages.
func tomlTypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date/time"
}

// set stores a decoded TOML value into the field of c. Messages never
// contain a secret's value.
func (f *field) set(c *Config, v any) error {
	rv := f.value(c)
	switch f.kind {
	case kindString, kindSecret:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("must be a string, not %s", tomlTypeName(v))
		}
		rv.SetString(s)
	case kindBool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("must be true or false, not %s", tomlTypeName(v))
		}
		rv.SetBool(b)
	case kindInt:
		n, ok := v.(int64)
		if !ok {
			return fmt.Errorf("must be an integer, not %s", tomlTypeName(v))
		}
		if rv.OverflowInt(n) {
			return fmt.Errorf("%d is out of range", n)
		}
		rv.SetInt(n)
	case kindDuration:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("must be a duration string such as \"30s\", \"2m\" or \"14d\", not %s", tomlTypeName(v))
		}
		d, err := ParseDuration(s)
		if err != nil {
			return err
		}
		rv.SetInt(int64(d))
	case kindSize:
		switch x := v.(type) {
		case int64:
			if x < 0 {
				return fmt.Errorf("%d is negative", x)
			}
			rv.SetInt(x)
		case string:
			n, err := ParseSize(x)
			if err != nil {
				return err
			}
			rv.SetInt(int64(n))
		default:
			return fmt.Errorf("must be a size such as \"4MiB\" or a number of bytes, not %s", tomlTypeName(v))
		}
	case kindStrings:
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("must be an array of strings, not %s", tomlTypeName(v))
		}
		out := make([]string, 0, len(arr))
		for i, e := range arr {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("element %d must be a string, not %s", i+1, tomlTypeName(e))
			}
			out = append(out, s)
		}
		rv.Set(reflect.ValueOf(out))
	}
	return nil
}

// literal writes the field's value of c as a TOML value. Secrets are
// masked unless reveal is set.
func (f *field) literal(c *Config, reveal bool) string {
	rv := f.value(c)
	switch f.kind {
	case kindSecret:
		s := rv.Interface().(Secret)
		if reveal {
			return quote(s.Reveal())
		}
		return quote(s.String())
	case kindString:
		return quote(rv.String())
	case kindBool:
		return strconv.FormatBool(rv.Bool())
	case kindInt:
		return strconv.FormatInt(rv.Int(), 10)
	case kindDuration:
		return quote(FormatDuration(time.Duration(rv.Int())))
	case kindSize:
		return quote(Size(rv.Int()).String())
	case kindStrings:
		ss := rv.Interface().([]string)
		parts := make([]string, len(ss))
		for i, s := range ss {
			parts[i] = quote(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	panic("unreachable")
}

// quote writes s as a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
