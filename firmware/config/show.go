package config

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// Show writes the effective configuration as TOML, every key in file order,
// with set secrets written as "********". It is what the console's "config
// show" prints.
func (c *Config) Show(w io.Writer) error {
	if err := c.encode(w, false); err != nil {
		return fmt.Errorf("config: show: %w", err)
	}
	return nil
}

// encode writes c as TOML; secrets are masked unless reveal is set.
func (c *Config) encode(w io.Writer, reveal bool) error {
	bw := bufio.NewWriter(w)
	for i, sec := range schema.sections {
		if i > 0 {
			bw.WriteString("\n")
		}
		fmt.Fprintf(bw, "[%s]\n", sec.name)
		for _, f := range sec.fields {
			fmt.Fprintf(bw, "%s = %s\n", f.name, f.literal(c, reveal))
		}
	}
	return bw.Flush()
}

func (c *Config) encoded(reveal bool) []byte {
	var b strings.Builder
	_ = c.encode(&b, reveal) // a strings.Builder does not fail
	return []byte(b.String())
}

// Lookup returns the value of key ("section.key") as it is written in TOML,
// a set secret masked: `"2m"`, `500`, `true`, `["pool.ntp.org"]`. It is for
// the console's "config show KEY".
func (c *Config) Lookup(key string) (string, bool) {
	f := schema.byKey[key]
	if f == nil {
		return "", false
	}
	return f.literal(c, false), true
}

// LogValue logs the configuration as one group per section, secrets masked.
// It has a value receiver so that a Config logs the same as a *Config.
func (cv Config) LogValue() slog.Value {
	c := &cv
	groups := make([]slog.Attr, 0, len(schema.sections))
	for _, sec := range schema.sections {
		attrs := make([]any, 0, len(sec.fields))
		for _, f := range sec.fields {
			rv := f.value(c)
			var val slog.Value
			switch f.kind {
			case kindSecret:
				val = rv.Interface().(Secret).LogValue()
			case kindString:
				val = slog.StringValue(rv.String())
			case kindBool:
				val = slog.BoolValue(rv.Bool())
			case kindInt:
				val = slog.Int64Value(rv.Int())
			case kindDuration:
				val = slog.StringValue(FormatDuration(time.Duration(rv.Int())))
			case kindSize:
				val = slog.StringValue(Size(rv.Int()).String())
			case kindStrings:
				val = slog.StringValue(strings.Join(rv.Interface().([]string), ","))
			}
			attrs = append(attrs, slog.Attr{Key: f.name, Value: val})
		}
		groups = append(groups, slog.Group(sec.name, attrs...))
	}
	return slog.GroupValue(groups...)
}
