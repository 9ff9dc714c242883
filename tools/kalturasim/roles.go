package kalturasim

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// PermissionsFileName is the spec file listing every service.action a
// CAPTURE_DEVICE_ROLE KS may call (kaltura.md §5, extracted from the
// server's deployment/permissions/service.*.ini).
const PermissionsFileName = "capture-device-permissions.tsv"

// PermissionsEnv, when set, names the permission file (the same as
// Options.PermissionsFile or the command's -permissions flag).
const PermissionsEnv = "KALTURASIM_PERMISSIONS"

// Permissions is the table of service.action pairs a CAPTURE_DEVICE KS may
// call; anything else is SERVICE_FORBIDDEN to that KS. Keys are lowercase.
type Permissions struct {
	// Path is the file the table was read from.
	Path    string
	allowed map[string]map[string]bool
}

// Allows reports whether service.action (any case) is in the table.
func (p *Permissions) Allows(service, action string) bool {
	return p != nil && p.allowed[strings.ToLower(service)][strings.ToLower(action)]
}

// Actions returns every listed (service, action) pair, in file order.
func (p *Permissions) Actions() [][2]string {
	var out [][2]string
	for svc, acts := range p.allowed {
		for a := range acts {
			out = append(out, [2]string{svc, a})
		}
	}
	return out
}

// LoadPermissions reads a permission table: a first comment line, a header
// line "service action granted_by source_file", then one tab-separated
// row per action. A malformed file is an error, never a partial table.
func LoadPermissions(path string) (*Permissions, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kalturasim: permission table: %w", err)
	}
	defer f.Close()
	p := &Permissions{Path: path, allowed: map[string]map[string]bool{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line, header, rows := 0, false, 0
	for sc.Scan() {
		line++
		t := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(t) == "" || strings.HasPrefix(t, "#") {
			continue
		}
		cols := strings.Split(t, "\t")
		if !header {
			if len(cols) < 2 || cols[0] != "service" || cols[1] != "action" {
				return nil, fmt.Errorf("kalturasim: permission table %s line %d: want the header \"service<TAB>action…\"", path, line)
			}
			header = true
			continue
		}
		if len(cols) < 3 || cols[0] == "" || cols[1] == "" {
			return nil, fmt.Errorf("kalturasim: permission table %s line %d: want service, action and granted_by", path, line)
		}
		switch cols[2] {
		case "CAPTURE_DEVICE", "ALWAYS":
		default:
			return nil, fmt.Errorf("kalturasim: permission table %s line %d: unknown granted_by %q", path, line, cols[2])
		}
		svc, act := strings.ToLower(cols[0]), strings.ToLower(cols[1])
		if p.allowed[svc] == nil {
			p.allowed[svc] = map[string]bool{}
		}
		p.allowed[svc][act] = true
		rows++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kalturasim: permission table %s: %w", path, err)
	}
	if rows == 0 {
		return nil, fmt.Errorf("kalturasim: permission table %s lists no action", path)
	}
	return p, nil
}

// ErrPermissionsNotFound is returned when no permission table was named and
// none was found above the working directory.
var ErrPermissionsNotFound = errors.New("kalturasim: " + PermissionsFileName + " not found: " +
	"looked for shared/spec/" + PermissionsFileName + " in the working directory and every parent " +
	"(the spec folder sits beside the repository); pass its path with -permissions, " + PermissionsEnv + " or Options.PermissionsFile")

// FindPermissionsFile returns the permission table's path: $KALTURASIM_PERMISSIONS
// when set, else the first shared/spec/capture-device-permissions.tsv found
// in the working directory or one of its parents.
func FindPermissionsFile() (string, error) {
	if p := os.Getenv(PermissionsEnv); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("kalturasim: permission table: %w", err)
	}
	for {
		p := filepath.Join(dir, "shared", "spec", PermissionsFileName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrPermissionsNotFound
		}
		dir = parent
	}
}

// authorize applies the session's permissions: admin-only actions, the
// widget session's narrow role, and setrole:CAPTURE_DEVICE_ROLE (only what
// the permission table lists).
func (s *Server) authorize(h *handler, c kapi.Caller, service, action string) *kapi.Exception {
	if c.Anonymous {
		if h.noKS {
			return nil
		}
		return errMissingKS()
	}
	if c.Widget && !h.widget {
		return errServiceForbidden(service, action)
	}
	if h.admin && c.SessionType != kapi.SessionAdmin {
		return errServiceForbidden(service, action)
	}
	if c.Role == kapi.RoleCaptureDevice && !s.perms.Allows(service, action) {
		return errServiceForbidden(service, action)
	}
	return nil
}

// Permissions returns the CAPTURE_DEVICE permission table in force.
func (s *Server) Permissions() *Permissions { return s.perms }
