package kalturasim

import (
	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// captureDeviceActions is what CAPTURE_DEVICE_ROLE may call
// (S deployment/permissions/service.*.ini; kaltura.md §2, §4, §5, §8).
// "*" allows every action of the service.
var captureDeviceActions = map[string][]string{
	"session":                   {"*"},
	"uploadtoken":               {"add", "get", "list", "upload"},
	"media":                     {"add", "addcontent", "get", "update", "updatecontent"},
	"baseentry":                 {"add", "get", "update"},
	"schedule_scheduleevent":    {"list", "add", "update"},
	"schedule_scheduleresource": {"add", "update", "get", "list"},
	"user":                      {"list"},
	"flavorparams":              {"list"},
	"metadata_metadata":         {"add", "update"},
	"thumbasset":                {"*"},
	"cuepoint_cuepoint":         {"*"},
}

// RoleAllows reports whether role may call service.action (lowercase
// names). The empty role (a user's own role in the simulator) may call
// everything.
func RoleAllows(role, service, action string) bool {
	if role != kapi.RoleCaptureDevice {
		return true
	}
	for _, a := range captureDeviceActions[service] {
		if a == "*" || a == action {
			return true
		}
	}
	return false
}

// authorize applies the session's permissions: admin-only actions, the
// widget session's narrow role, and setrole:CAPTURE_DEVICE_ROLE.
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
	if !RoleAllows(c.Role, service, action) {
		return errServiceForbidden(service, action)
	}
	return nil
}
