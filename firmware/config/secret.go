package config

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strconv"
)

// Mask is what a set secret prints as, wherever it is printed.
const Mask = "********"

// Secret is a credential from the configuration (an app token, a password).
// It masks itself in every output path: fmt (all verbs, %#v included),
// log/slog (LogValue), encoding/json (MarshalJSON) and text encoders
// (MarshalText). An empty Secret prints as "" so that an unset credential is
// visible as such. Only Reveal returns the value: call it where the value is
// used (the token hash, the FTP login), never to print it.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s != "" }

// String returns Mask, or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Mask
}

// GoString masks the value for %#v.
func (s Secret) GoString() string {
	return "config.Secret(" + strconv.Quote(s.String()) + ")"
}

// Format masks the value for every fmt verb.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, s.GoString())
	case verb == 'q':
		_, _ = io.WriteString(f, strconv.Quote(s.String()))
	default:
		_, _ = io.WriteString(f, s.String())
	}
}

// LogValue masks the value for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON masks the value for encoding/json.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText masks the value for text encoders (TOML, XML, YAML libraries).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

var secretType = reflect.TypeFor[Secret]()

// forEachSecret calls fn with a pointer to every Secret field of c.
func forEachSecret(c *Config, fn func(*Secret)) {
	for _, f := range schema.fields {
		if f.kind == kindSecret {
			fn(f.value(c).Addr().Interface().(*Secret))
		}
	}
}

// maskSecret returns Mask for a set secret.
func maskSecret(s Secret) Secret {
	if s == "" {
		return ""
	}
	return Mask
}

// Format prints the configuration with its secrets replaced by the mask,
// for every verb. Secret masks itself too, but fmt stops calling methods
// once it meets a verb it cannot apply (as %s of a pointer nested in a
// slice), so the types holding secrets mask them before printing.
func (c Config) Format(f fmt.State, verb rune) {
	type config Config // the same fields, without this method
	fmt.Fprintf(f, fmt.FormatString(f, verb), config(*c.Masked()))
}

// Format prints the section with its secret masked; see Config.Format.
func (b Box) Format(f fmt.State, verb rune) {
	type box Box
	b.StatusPassword = maskSecret(b.StatusPassword)
	fmt.Fprintf(f, fmt.FormatString(f, verb), box(b))
}

// Format prints the section with its secret masked; see Config.Format.
func (h Hardware) Format(f fmt.State, verb rune) {
	type hardware Hardware
	h.ConsolePIN = maskSecret(h.ConsolePIN)
	fmt.Fprintf(f, fmt.FormatString(f, verb), hardware(h))
}

// Format prints the section with its secret masked; see Config.Format.
func (k Kaltura) Format(f fmt.State, verb rune) {
	type kaltura Kaltura
	k.AppToken = maskSecret(k.AppToken)
	fmt.Fprintf(f, fmt.FormatString(f, verb), kaltura(k))
}

// Format prints the section with its secret masked; see Config.Format.
func (s Sync) Format(f fmt.State, verb rune) {
	type sync Sync
	s.FTPPassword = maskSecret(s.FTPPassword)
	fmt.Fprintf(f, fmt.FormatString(f, verb), sync(s))
}
