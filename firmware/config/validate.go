package config

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// required are the keys without a useful default: a box cannot work
// without them, and they differ from box to box or partner to partner.
var required = map[string]bool{
	"box.name":             true,
	"kaltura.partner_id":   true,
	"kaltura.app_token_id": true,
	"kaltura.app_token":    true,
	"kaltura.resource_id":  true,
}

// IsRequired reports whether key ("section.key") has no default and must be
// set in the file.
func IsRequired(key string) bool { return required[key] }

type validator struct {
	doc      *document
	skip     map[string]bool // keys already reported by decode
	problems []Problem
	failed   map[string]bool
}

func (v *validator) add(key, format string, args ...any) {
	if v.skip[key] {
		return
	}
	if v.failed == nil {
		v.failed = map[string]bool{}
	}
	v.failed[key] = true
	v.problems = append(v.problems, Problem{Key: key, Line: v.doc.line(key), Msg: fmt.Sprintf(format, args...)})
}

// isSet reports whether key is written in the file.
func (v *validator) isSet(key string) bool {
	if v.doc == nil {
		return false
	}
	_, ok := v.doc.keys[key]
	return ok
}

func (v *validator) durationRange(key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.add(key, "%s is out of range: must be from %s to %s", FormatDuration(d), FormatDuration(lo), FormatDuration(hi))
	}
}

func (v *validator) sizeRange(key string, s, lo, hi Size) {
	if s < lo || s > hi {
		v.add(key, "%s is out of range: must be from %s to %s", s, sizeText(lo), sizeText(hi))
	}
}

func sizeText(s Size) string {
	if s == 0 {
		return "0"
	}
	return s.String()
}

func (v *validator) oneOf(key, val string, allowed ...string) bool {
	for _, a := range allowed {
		if val == a {
			return true
		}
	}
	v.add(key, "%q is not one of %s", val, strings.Join(quoteAll(allowed), ", "))
	return false
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// absPath checks an optional absolute path ("" allowed when optional).
func (v *validator) absPath(key, p string, optional bool) {
	switch {
	case p == "" && optional:
	case p == "":
		v.add(key, "must not be empty")
	case !filepath.IsAbs(p):
		v.add(key, "%q is not an absolute path", p)
	case filepath.Clean(p) != p && filepath.Clean(p)+"/" != p:
		v.add(key, "%q is not a clean path (try %q)", p, filepath.Clean(p))
	}
}

var (
	appTokenIDRE = regexp.MustCompile(`^[0-9]+_[0-9a-z]{1,30}$`)
	appTokenRE   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	entryIDRE    = regexp.MustCompile(`^[0-9a-z_]{10}$`)
	pinRE        = regexp.MustCompile(`^GPIO([0-9]{1,2})$`)
	displayRE    = regexp.MustCompile(`^([0-9]{1,2})x([0-9])$`)
	alsaRE       = regexp.MustCompile(`^hw:[0-9]{1,2},[0-9]{1,2}$`)
)

var baudRates = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}

// validate checks c, decoded from doc (doc may be nil for a Config built in
// code), and normalises the spelling of case-insensitive values. Keys in skip
// already have a problem and get no second one.
func validate(c *Config, doc *document, skip map[string]bool) []Problem {
	v := &validator{doc: doc, skip: skip}
	for key := range required {
		if f := schema.byKey[key]; f.value(c).IsZero() {
			v.add(key, "required: no default, set it in the file")
		}
	}

	// [box]
	b := &c.Box
	if b.Name != "" {
		switch {
		case strings.TrimSpace(b.Name) != b.Name:
			v.add("box.name", "has leading or trailing spaces")
		case len([]rune(b.Name)) > 64:
			v.add("box.name", "is longer than 64 characters")
		case strings.IndexFunc(b.Name, unicode.IsControl) >= 0:
			v.add("box.name", "contains a control character")
		}
	}
	if _, err := loadLocation(b.Timezone); err != nil {
		v.add("box.timezone", "%q is not a known IANA time zone such as \"Europe/London\" or \"UTC\"", b.Timezone)
	}
	v.absPath("box.data_dir", b.DataDir, false)
	b.LogLevel = strings.ToLower(b.LogLevel)
	v.oneOf("box.log_level", b.LogLevel, "debug", "info", "warn", "error")
	v.sizeRange("box.ledger_max_size", b.LedgerMaxSize, 256*KiB, GiB)
	if b.MetricsAddress != "" {
		if _, port, err := net.SplitHostPort(b.MetricsAddress); err != nil || port == "" {
			v.add("box.metrics_address", "%q is not host:port (such as \":9101\")", b.MetricsAddress)
		}
	}
	if b.StatusPassword.IsSet() && len([]rune(b.StatusPassword.Reveal())) < 8 {
		v.add("box.status_password", "is shorter than 8 characters")
	}

	// [kaltura]
	k := &c.Kaltura
	v.serviceURL(k)
	if k.PartnerID < 0 {
		v.add("kaltura.partner_id", "must be greater than 0")
	}
	if k.AppTokenID != "" && !appTokenIDRE.MatchString(k.AppTokenID) {
		v.add("kaltura.app_token_id", "%q is not an app token id of the form <dc>_<id>, such as \"0_ab12cd34\"", k.AppTokenID)
	}
	if k.AppToken != "" && !appTokenRE.MatchString(k.AppToken.Reveal()) {
		v.add("kaltura.app_token", "must be the 32 lowercase hexadecimal digits appToken.add returned (value not shown)")
	}
	k.AppTokenHashType = strings.ToUpper(k.AppTokenHashType)
	v.oneOf("kaltura.app_token_hash_type", k.AppTokenHashType, "SHA1", "MD5", "SHA256", "SHA512")
	if k.ResourceID < 0 {
		v.add("kaltura.resource_id", "must be greater than 0")
	}
	switch {
	case k.ParentResourceID < 0:
		v.add("kaltura.parent_resource_id", "must be 0 (none) or a resource id")
	case k.ParentResourceID != 0 && k.ParentResourceID == k.ResourceID:
		v.add("kaltura.parent_resource_id", "is the same as resource_id: give the LOCATION resource above the camera, or 0")
	}
	if k.DefaultTemplateEntryID != "" && !entryIDRE.MatchString(k.DefaultTemplateEntryID) {
		v.add("kaltura.default_template_entry_id", "%q is not an entry id (10 characters of 0-9, a-z and _, such as \"1_ab12cd34\")", k.DefaultTemplateEntryID)
	}
	v.absPath("kaltura.ca_file", k.CAFile, true)
	if filepath.IsAbs(k.CAFile) {
		if pem, err := os.ReadFile(k.CAFile); err != nil {
			v.add("kaltura.ca_file", "cannot be read: %v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			v.add("kaltura.ca_file", "%q holds no PEM certificate", k.CAFile)
		}
	}
	v.durationRange("kaltura.request_timeout", k.RequestTimeout, time.Second, 10*time.Minute)

	// [sync]
	s := &c.Sync
	s.Transport = strings.ToLower(s.Transport)
	v.oneOf("sync.transport", s.Transport, TransportHTTPS, TransportFTP)
	v.durationRange("sync.interval", s.Interval, 30*time.Second, Day)
	if s.Jitter < 0 || (s.Jitter > s.Interval && !v.failed["sync.interval"] && !v.skip["sync.interval"]) {
		v.add("sync.jitter", "%s is out of range: must be from 0s to sync.interval (%s)", FormatDuration(s.Jitter), FormatDuration(s.Interval))
	}
	v.durationRange("sync.window", s.Window, time.Hour, 366*Day)
	if s.MaxAge != 0 {
		v.durationRange("sync.max_age", s.MaxAge, 10*time.Minute, 30*Day)
	}
	if s.PageSize < 1 || s.PageSize > 500 {
		v.add("sync.page_size", "%d is out of range: must be from 1 to 500 (the server clamps larger pages to 500)", s.PageSize)
	}
	if s.FTPAddress != "" {
		host, port, err := net.SplitHostPort(s.FTPAddress)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			v.add("sync.ftp_address", "%q is not host:port, such as \"ftp.example.edu:21\"", s.FTPAddress)
		}
	}
	if s.FTPLogin != "" && strings.ContainsAny(s.FTPLogin, "/ \t\r\n") {
		v.add("sync.ftp_login", "must not contain a slash or white space (the box sends <partner_id>/<login>)")
	}
	if s.Transport == TransportFTP {
		for _, key := range []string{"sync.ftp_address", "sync.ftp_login", "sync.ftp_password"} {
			if schema.byKey[key].value(c).IsZero() {
				v.add(key, "required when sync.transport is \"ftp\"")
			}
		}
	}
	v.sizeRange("sync.max_response_size", s.MaxResponseSize, MiB, MaxScheduleResponse)

	// [recording]
	r := &c.Recording
	v.durationRange("recording.pre_padding", r.PrePadding, 0, 30*time.Minute)
	v.durationRange("recording.post_padding", r.PostPadding, 0, 30*time.Minute)
	v.durationRange("recording.preflight", r.Preflight, 0, 2*time.Hour)
	v.durationRange("recording.warmup", r.Warmup, 0, 10*time.Minute)
	v.durationRange("recording.adhoc_max", r.AdhocMax, time.Minute, Day)
	v.durationRange("recording.min_length", r.MinLength, 0, 10*time.Minute)
	v.oneOf("recording.short_policy", r.ShortPolicy, ShortKeepLocal, ShortUploadTagged)
	v.durationRange("recording.silence_after", r.SilenceAfter, 5*time.Second, time.Hour)
	v.durationRange("recording.black_after", r.BlackAfter, 5*time.Second, time.Hour)
	if v.isSet("recording.dir") || !v.failed["box.data_dir"] && !v.skip["box.data_dir"] {
		v.absPath("recording.dir", r.Dir, false)
	}

	// [upload]
	u := &c.Upload
	v.sizeRange("upload.chunk_size", u.ChunkSize, 100*KiB, 64*MiB)
	if u.BandwidthLimit != 0 && u.BandwidthLimit < 8*KiB {
		v.add("upload.bandwidth_limit", "%s per second is too low: use 0 (unlimited) or at least 8KiB", u.BandwidthLimit)
	}
	if u.BandwidthLimit < 0 {
		v.add("upload.bandwidth_limit", "must not be negative")
	}
	v.durationRange("upload.retention", u.Retention, 0, 366*Day)
	v.durationRange("upload.unverified_retention", u.UnverifiedRetention, Day, 366*Day)
	v.sizeRange("upload.min_free_space", u.MinFreeSpace, 0, TiB)
	v.durationRange("upload.max_backoff", u.MaxBackoff, time.Second, Day)

	// [hardware]
	hw := &c.Hardware
	hw.LEDPin = strings.ToUpper(hw.LEDPin)
	hw.ButtonPin = strings.ToUpper(hw.ButtonPin)
	v.pin("hardware.led_pin", hw.LEDPin)
	v.pin("hardware.button_pin", hw.ButtonPin)
	if hw.LEDPin == hw.ButtonPin {
		if v.isSet("hardware.led_pin") && !v.isSet("hardware.button_pin") {
			v.add("hardware.led_pin", "is the same pin as hardware.button_pin")
		} else {
			v.add("hardware.button_pin", "is the same pin as hardware.led_pin")
		}
	}
	v.oneOf("hardware.led_active", hw.LEDActive, "high", "low")
	v.durationRange("hardware.long_press", hw.LongPress, 500*time.Millisecond, 10*time.Second)
	v.absPath("hardware.display_port", hw.DisplayPort, true)
	v.oneOf("hardware.display_type", hw.DisplayType, "serlcd", "plain")
	if m := displayRE.FindStringSubmatch(hw.DisplaySize); m == nil {
		v.add("hardware.display_size", "%q is not <columns>x<rows>, such as \"16x2\" or \"20x4\"", hw.DisplaySize)
	} else if cols, rows := hw.DisplayDims(); cols < 8 || cols > 40 || rows < 1 || rows > 4 {
		v.add("hardware.display_size", "%q is out of range: 8 to 40 columns, 1 to 4 rows", hw.DisplaySize)
	} else if hw.DisplayType == "serlcd" && (cols != 16 && cols != 20 || rows == 3) {
		v.add("hardware.display_size", "%q is not a SerLCD size: 16 or 20 columns of 1, 2 or 4 rows (or set hardware.display_type = \"plain\")", hw.DisplaySize)
	}
	v.baud("hardware.display_baud", hw.DisplayBaud)
	v.absPath("hardware.console_port", hw.ConsolePort, true)
	v.baud("hardware.console_baud", hw.ConsoleBaud)
	v.absPath("hardware.capture_device", hw.CaptureDevice, false)
	hw.VideoEncoder = strings.ToLower(hw.VideoEncoder)
	v.oneOf("hardware.video_encoder", hw.VideoEncoder, "auto", "openh264", "v4l2m2m")
	if hw.AudioDevice != "auto" && hw.AudioDevice != "none" && !alsaRE.MatchString(hw.AudioDevice) {
		v.add("hardware.audio_device", "%q is not \"auto\", \"none\" or an ALSA device such as \"hw:1,0\"", hw.AudioDevice)
	}
	return v.problems
}

func (v *validator) serviceURL(k *Kaltura) {
	const key = "kaltura.service_url"
	// The URL is never quoted back: it could carry user:password@.
	u, err := url.Parse(k.ServiceURL)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		v.add(key, "is not an absolute URL such as \"https://www.kaltura.com\"")
	case u.User != nil:
		v.add(key, "must not contain a user name or password")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		v.add(key, "must not contain a query or fragment")
	case u.Scheme == "https", u.Scheme == "http" && k.AllowInsecureHTTP:
		k.ServiceURL = strings.TrimRight(k.ServiceURL, "/")
	case u.Scheme == "http":
		v.add(key, "must be https (http is allowed only with kaltura.allow_insecure_http = true, for the local simulator)")
	default:
		v.add(key, "scheme %q is not https", u.Scheme)
	}
}

func (v *validator) pin(key, p string) {
	m := pinRE.FindStringSubmatch(p)
	if m == nil {
		v.add(key, "%q is not a pin name such as \"GPIO17\"", p)
		return
	}
	if n, _ := strconv.Atoi(m[1]); n > 27 {
		v.add(key, "%q is not on the 40-pin header (GPIO0 to GPIO27)", p)
	}
}

func (v *validator) baud(key string, n int) {
	for _, b := range baudRates {
		if n == b {
			return
		}
	}
	v.add(key, "%d is not a standard serial speed (9600, 19200, 38400, 57600, 115200, ...)", n)
}
