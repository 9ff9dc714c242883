package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2"

	"github.com/capturebox/capturebox/hal/atomicfile"
)

// FileMode is the mode Save, Set and Unset give the file: it holds secrets.
// (On the FAT boot partition the mount options decide the mode instead.)
const FileMode fs.FileMode = 0o600

// fileMu serialises this process's read-modify-write cycles on config files.
var fileMu sync.Mutex

// Set sets key ("section.key") to value in the file at path, for the
// console's "config set KEY VALUE". The value is written as the key's type
// needs: strings, durations and sizes are quoted for the caller ("5m",
// "4MiB"; a value already in TOML quotes is taken as a TOML string), integers
// and booleans (true/false, yes/no, on/off, 1/0) are written bare, and a list
// is either a TOML array or comma-separated ("a.pool.ntp.org,
// b.pool.ntp.org").
//
// Only the key's value is edited in place (a missing key is added at the end
// of its section), so comments and layout survive. The whole resulting file is
// checked before anything is written: on any problem Set returns a
// *ValidationError and the file is untouched. Then the file is replaced
// atomically (temporary file in the same directory, fsync, rename, fsync of
// the directory) with mode 0600. Errors never contain a secret's value.
func Set(path, key, value string) error {
	f := schema.byKey[key]
	if f == nil {
		sec, name, _ := strings.Cut(key, ".")
		msg := "unknown key"
		if schema.bySec[sec] != nil {
			msg += suggestKey(sec, name)
		} else {
			msg += suggest(key, Keys())
		}
		return &ValidationError{File: path, Problems: []Problem{{Key: key, Msg: msg}}}
	}
	lit, err := f.inputLiteral(value)
	if err != nil {
		return &ValidationError{File: path, Problems: []Problem{{Key: key, Msg: err.Error()}}}
	}
	return editFile(path, func(doc *document) ([]byte, error) {
		return doc.withValues(map[string]string{key: lit}), nil
	})
}

// Unset removes key's line from the file at path, so that the key takes its
// default again. It also removes keys the firmware does not know, which is
// how the console fixes a typo ("config unset sync.intervall"). Like Set, it
// checks the whole result first and writes atomically with mode 0600. A key
// inside an inline table cannot be removed this way.
func Unset(path, key string) error {
	return editFile(path, func(doc *document) ([]byte, error) {
		kp, ok := doc.keys[key]
		if !ok {
			return nil, fmt.Errorf("key %s is not in the file", key)
		}
		if kp.inline {
			return nil, fmt.Errorf("key %s is inside an inline table; edit the file instead", key)
		}
		return doc.apply([]edit{{start: kp.lineStart, end: lineEnd(doc.data, kp.valueEnd)}}), nil
	})
}

// editFile reads the file, changes it with change, checks the result and
// replaces the file atomically.
func editFile(path string, change func(*document) ([]byte, error)) error {
	fileMu.Lock()
	defer fileMu.Unlock()
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	doc, problems := readDocument(data)
	if problems != nil {
		return &ValidationError{File: path, Problems: problems}
	}
	out, err := change(doc)
	if err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	if _, err := Parse(out, path); err != nil {
		return err
	}
	return writeAtomic(path, out)
}

// Save writes c to the file at path. c is checked first (on any problem
// Save returns a *ValidationError, without lines, and writes nothing). If
// the file exists and is valid TOML, only the keys whose values differ are
// edited in place, so comments survive; otherwise (no file, or a file too
// broken to edit) the whole configuration is written afresh, every key
// included. The file is replaced atomically with mode 0600.
func Save(path string, c *Config) error {
	want, err := Parse(c.encoded(true), path)
	if err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			for i := range ve.Problems {
				ve.Problems[i].Line = 0 // lines of our own encoding mean nothing to the caller
			}
		}
		return err
	}
	full := want.encoded(true)

	fileMu.Lock()
	defer fileMu.Unlock()
	out := full
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		if edited, ok := editedCopy(old, want, full, path); ok {
			out = edited
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("config: %w", err)
	}
	return writeAtomic(path, out)
}

// editedCopy edits the keys of old that differ from want, and reports
// whether the result parses to exactly want.
func editedCopy(old []byte, want *Config, full []byte, path string) ([]byte, bool) {
	doc, problems := readDocument(old)
	if problems != nil {
		return nil, false
	}
	prev, _ := doc.decode()
	validate(prev, doc, nil) // only to normalise spellings as Parse does
	changes := map[string]string{}
	for _, f := range schema.fields {
		if l := f.literal(want, true); l != f.literal(prev, true) {
			changes[f.key] = l
		}
	}
	edited := doc.withValues(changes)
	got, err := Parse(edited, path)
	if err != nil || !bytes.Equal(got.encoded(true), full) {
		return nil, false
	}
	return edited, true
}

// edit replaces data[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// apply makes non-overlapping edits and restores a byte-order mark.
func (doc *document) apply(edits []edit) []byte {
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	var b bytes.Buffer
	if doc.bom {
		b.Write(utf8BOM)
	}
	pos := 0
	for _, e := range edits {
		b.Write(doc.data[pos:e.start])
		b.WriteString(e.text)
		pos = e.end
	}
	b.Write(doc.data[pos:])
	return b.Bytes()
}

// withValues sets each "section.key" to a TOML literal: in place where the
// key is written, at the end of its [section] where it is not, and in a new
// [section] at the end of the file where there is no such header.
func (doc *document) withValues(values map[string]string) []byte {
	nl := "\n"
	if bytes.Contains(doc.data, []byte("\r\n")) {
		nl = "\r\n"
	}
	var edits []edit
	newSections := map[string][]string{}
	for _, f := range schema.fields { // file order, for a tidy result
		lit, ok := values[f.key]
		if !ok {
			continue
		}
		line := f.name + " = " + lit
		if kp, ok := doc.keys[f.key]; ok {
			edits = append(edits, edit{start: kp.valueStart, end: kp.valueEnd, text: lit})
			continue
		}
		if t, ok := doc.tables[f.section]; ok && t.hasHeader {
			text := line + nl
			if t.insertAt == len(doc.data) && len(doc.data) > 0 && doc.data[len(doc.data)-1] != '\n' {
				text = nl + text
			}
			edits = append(edits, edit{start: t.insertAt, end: t.insertAt, text: text})
			continue
		}
		newSections[f.section] = append(newSections[f.section], line)
	}
	var tail strings.Builder
	for _, sec := range schema.sections {
		lines := newSections[sec.name]
		if len(lines) == 0 {
			continue
		}
		if tail.Len() > 0 || len(doc.data) > 0 {
			tail.WriteString(nl)
		}
		tail.WriteString("[" + sec.name + "]" + nl)
		for _, l := range lines {
			tail.WriteString(l + nl)
		}
	}
	if tail.Len() > 0 {
		text := tail.String()
		if len(doc.data) > 0 && doc.data[len(doc.data)-1] != '\n' {
			text = nl + text
		}
		edits = append(edits, edit{start: len(doc.data), end: len(doc.data), text: text})
	}
	return doc.apply(edits)
}

// inputLiteral turns a console value into the TOML literal for the field.
// Messages never contain a secret's value.
func (f *field) inputLiteral(in string) (string, error) {
	switch f.kind {
	case kindString, kindSecret, kindDuration, kindSize:
		s := in
		if strings.HasPrefix(s, `"`) || strings.HasPrefix(s, `'`) {
			v, err := tomlValue(s)
			str, ok := v.(string)
			if err != nil || !ok {
				return "", errors.New("is not a valid TOML string (check the quotes)")
			}
			s = str
		}
		return quote(s), nil
	case kindBool:
		switch strings.ToLower(in) {
		case "true", "yes", "on", "1":
			return "true", nil
		case "false", "no", "off", "0":
			return "false", nil
		}
		return "", fmt.Errorf("%q is not true or false", in)
	case kindInt:
		n, err := strconv.ParseInt(strings.ReplaceAll(in, "_", ""), 10, 64)
		if err != nil {
			return "", fmt.Errorf("%q is not an integer", in)
		}
		return strconv.FormatInt(n, 10), nil
	case kindStrings:
		var items []string
		if strings.HasPrefix(strings.TrimSpace(in), "[") {
			v, err := tomlValue(in)
			arr, ok := v.([]any)
			if err != nil || !ok {
				return "", errors.New("is not a valid TOML array of strings")
			}
			for _, e := range arr {
				s, ok := e.(string)
				if !ok {
					return "", errors.New("is not a valid TOML array of strings")
				}
				items = append(items, s)
			}
		} else {
			for _, s := range strings.Split(in, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
		}
		parts := make([]string, len(items))
		for i, s := range items {
			parts[i] = quote(s)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	}
	panic("unreachable")
}

// tomlValue parses one TOML value.
func tomlValue(s string) (any, error) {
	var m map[string]any
	if err := toml.Unmarshal([]byte("v = "+s), &m); err != nil {
		return nil, err
	}
	return m["v"], nil
}

// fileSystem is where Save, Set and Unset write; tests replace it.
var fileSystem atomicfile.FS = atomicfile.OS

// writeAtomic replaces the file at path with data durably (hal/atomicfile:
// temporary file in the same directory, fsync, rename, fsync of the
// directory), so that a crash leaves either the old file or the new one,
// with mode FileMode where the file system keeps modes.
func writeAtomic(path string, data []byte) error {
	if err := atomicfile.Write(fileSystem, path, FileMode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// ModeReport is what CheckMode found about a configuration file's
// permissions.
type ModeReport struct {
	Path string
	// Was is the file's permission bits as found.
	Was fs.FileMode
	// Secrets names the secrets the file holds ("kaltura.app_token").
	Secrets []string
	// Tightened is true when the file was changed to FileMode.
	Tightened bool
	// Err says why it could not be tightened (FAT, a read-only mount).
	Err error
}

// Exposed reports whether others than the owner could read the secrets
// (before any tightening).
func (r ModeReport) Exposed() bool { return len(r.Secrets) > 0 && r.Was&0o077 != 0 }

// Warning is the text for the log and the console; empty when the file's
// secrets were not exposed. It names the secrets' keys, never their values.
func (r ModeReport) Warning() string {
	if !r.Exposed() {
		return ""
	}
	what := strings.Join(r.Secrets, " and ")
	if r.Tightened {
		return fmt.Sprintf("config %s holds %s and was readable by others (mode %04o); tightened to %04o", r.Path, what, r.Was, FileMode)
	}
	return fmt.Sprintf("config %s holds %s and is readable by others (mode %04o); could not tighten it (%v): make it %04o (on FAT, mount with fmask=0177)", r.Path, what, r.Was, r.Err, FileMode)
}

// CheckMode looks at the permissions of the configuration file at path,
// which holds c. When c carries a secret (any key of type Secret)
// and the file is readable by group or others, it is tightened to
// FileMode if tighten is true and the file system lets the box do it; a
// file system without Unix permissions (the FAT boot partition) shows the
// mount's mode and refuses. The caller logs and shows Warning.
func CheckMode(path string, c *Config, tighten bool) (ModeReport, error) {
	r := ModeReport{Path: path}
	for _, f := range schema.fields {
		if f.kind == kindSecret && f.value(c).Interface().(Secret).IsSet() {
			r.Secrets = append(r.Secrets, f.key)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return r, fmt.Errorf("config: %w", err)
	}
	r.Was = fi.Mode().Perm()
	if !r.Exposed() {
		return r, nil
	}
	if !tighten {
		r.Err = errors.New("the box may not write it")
		return r, nil
	}
	if err := os.Chmod(path, FileMode); err != nil {
		r.Err = err
		return r, nil
	}
	// FAT accepts some chmods and ignores them: believe only what stat says.
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 == 0 {
		r.Tightened = true
	} else {
		r.Err = errors.New("the file system keeps no permissions")
	}
	return r, nil
}
