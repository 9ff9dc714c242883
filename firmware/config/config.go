// Package config reads, checks, shows and edits the box's one configuration
// file, capturebox.toml.
//
// The file lives on the SD card's FAT boot partition so that it can be edited
// from any laptop. Every key has a documented default (see
// capturebox.example.toml beside this file, which a test keeps in step with
// Default); a handful of per-box keys (the room name and the Kaltura
// credentials) have no useful default and are required.
//
// Values:
//   - Durations are strings in Go's syntax ("30s", "2m", "1h30m") with one
//     addition: a leading whole number of days, "14d" or "1d12h".
//   - Sizes are strings with an IEC or SI unit ("100KiB", "4MiB", "2GiB",
//     "5MB") or a plain integer number of bytes.
//   - Paths are absolute.
//
// Parse and Load apply the defaults, then check every value. A file with any
// problem is refused as a whole: they return a nil *Config and a
// *ValidationError that lists every problem as FILE:LINE: key section.key:
// reason, so the caller keeps running on its last good configuration. Unknown
// keys are problems too, so a typo never silently falls back to a default.
//
// Secrets (kaltura.app_token, sync.ftp_password, box.status_password,
// hardware.console_pin) are of type Secret, which
// masks itself in fmt, log/slog, encoding/json and encoding.TextMarshaler
// output; only Secret.Reveal returns the value. Show prints the effective
// configuration with secrets masked.
//
// Set, Unset and Save edit the file for the console's "config set": the
// whole result is checked first, then written atomically with mode 0600,
// editing single keys in place so that the administrator's comments survive.
package config

import (
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/sync/icalparse"
)

// Config is the whole configuration of a box. A *Config returned by Load or
// Parse is complete and valid; treat it as read-only and share it freely.
type Config struct {
	Box       Box       `toml:"box"`
	Kaltura   Kaltura   `toml:"kaltura"`
	Sync      Sync      `toml:"sync"`
	Recording Recording `toml:"recording"`
	Upload    Upload    `toml:"upload"`
	Hardware  Hardware  `toml:"hardware"`
}

// Box is the [box] section: the box's identity and local storage.
type Box struct {
	// Name is the room name shown on the display and used in the titles of
	// ad-hoc recordings. Required.
	Name string `toml:"name"`
	// Timezone is the IANA zone (e.g. "America/New_York") used for titles and
	// the console's local times. Default "UTC".
	Timezone string `toml:"timezone"`
	// DataDir holds recordings, the upload queue and the schedule cache.
	// Default "/data/capturebox".
	DataDir string `toml:"data_dir"`
	// LogLevel is debug, info, warn or error. Default "info".
	LogLevel string `toml:"log_level"`
	// LedgerMaxSize bounds the event ledger (`capturebox why`) in DataDir:
	// the oldest records are deleted beyond it. Default 4MiB (a year of
	// four lectures a day takes about 3MB).
	LedgerMaxSize Size `toml:"ledger_max_size"`
	// MetricsAddress is the LAN address ("host:port", ":9101") where the
	// box serves Prometheus metrics at /metrics and the status page at /.
	// Default "": off.
	MetricsAddress string `toml:"metrics_address"`
	// StatusPassword, when set, is the password of the status page's login,
	// which offers its few actions (sync now, retry an upload). The page's
	// read-only view needs no login. At least 8 characters. Default "":
	// no login, no actions. Secret.
	StatusPassword Secret `toml:"status_password"`
}

// Kaltura is the [kaltura] section: the partner, the app token and the
// box's schedule resource (kaltura.md §2, §3).
type Kaltura struct {
	// ServiceURL is the API base. Default "https://www.kaltura.com". It must
	// be https unless AllowInsecureHTTP is set.
	ServiceURL string `toml:"service_url"`
	// AllowInsecureHTTP permits an http:// ServiceURL, for the local
	// simulator only. Default false.
	AllowInsecureHTTP bool `toml:"allow_insecure_http"`
	// PartnerID is the Kaltura partner id. Required, > 0.
	PartnerID int64 `toml:"partner_id"`
	// AppTokenID is the app token's id, "<dc>_<random>". Required.
	AppTokenID string `toml:"app_token_id"`
	// AppToken is the app token's 32-hex-digit token. Required. Secret.
	AppToken Secret `toml:"app_token"`
	// AppTokenHashType is the hash type the token was created with: SHA1,
	// MD5, SHA256 or SHA512. Default "SHA1" (Kaltura's default).
	AppTokenHashType string `toml:"app_token_hash_type"`
	// ResourceID is the box's CAMERA schedule resource. Required, > 0.
	ResourceID int64 `toml:"resource_id"`
	// ParentResourceID is the room/location resource id: the LOCATION
	// resource the camera stands in, used together with the camera's
	// ResourceID — the box records events booked on the camera or on the
	// room, never those of a sibling camera of the room (kaltura.md §8).
	// 0 = none.
	ParentResourceID int64 `toml:"parent_resource_id"`
	// DefaultTemplateEntryID is the template entry for ad-hoc recordings
	// (10 characters of [0-9a-z_]). Default "": the partner's conversion
	// profile default entry applies.
	DefaultTemplateEntryID string `toml:"default_template_entry_id"`
	// CAFile is an optional PEM file of extra CA certificates, added to the
	// system roots. Default "": system roots only.
	CAFile string `toml:"ca_file"`
	// RequestTimeout bounds one API request (not a whole chunk upload's
	// retries). Default 30s.
	RequestTimeout time.Duration `toml:"request_timeout"`
}

// Sync is the [sync] section: how the schedule is fetched (kaltura.md §2, §7).
type Sync struct {
	// Transport is "https" (schedule_scheduleevent.list) or "ftp".
	// Default "https".
	Transport string `toml:"transport"`
	// Interval between syncs. Default 2m.
	Interval time.Duration `toml:"interval"`
	// Jitter is the largest random delay added to each interval, so that a
	// campus of boxes does not hit Kaltura at once. Default 30s.
	Jitter time.Duration `toml:"jitter"`
	// Window is the look-ahead. Default 14d.
	Window time.Duration `toml:"window"`
	// MaxAge: when the last good sync is older, the box shows a
	// "SCHEDULE OLD" fault (LED, display, console). Default 6h; 0: never.
	MaxAge time.Duration `toml:"max_age"`
	// RecordOnly selects KalturaRecordScheduleEventFilter (true) or the plain
	// KalturaScheduleEventFilter that also returns blackouts (false).
	// Default true.
	RecordOnly bool `toml:"record_only"`
	// PageSize of a list call, 1..500. Default 500.
	PageSize int `toml:"page_size"`
	// FTPAddress is host:port of the FTP front. Required with transport ftp.
	FTPAddress string `toml:"ftp_address"`
	// FTPLogin is the KMC loginId; the FTP user is "<partner_id>/<login>".
	// Required with transport ftp.
	FTPLogin string `toml:"ftp_login"`
	// FTPPassword is that user's password. Required with transport ftp. Secret.
	FTPPassword Secret `toml:"ftp_password"`
	// MaxResponseSize caps one schedule response (an API page, an FTP
	// file): the fetch stops reading there and the parser refuses more.
	// From 1MiB to MaxScheduleResponse, its default.
	MaxResponseSize Size `toml:"max_response_size"`
}

// Recording is the [recording] section.
type Recording struct {
	// PrePadding starts a scheduled recording this much before DTSTART.
	// Default 0.
	PrePadding time.Duration `toml:"pre_padding"`
	// PostPadding ends it this much after DTEND. Default 0.
	PostPadding time.Duration `toml:"post_padding"`
	// Preflight is how long before each scheduled start the box checks the
	// clock, the disk room, the Kaltura session, the schedule's age and the
	// signal, and shows a fault while there is time to fix it. Default
	// 10m; 0 turns it off.
	Preflight time.Duration `toml:"preflight"`
	// Warmup opens the capture input this long before each scheduled start,
	// so that the file begins with the first frame at or after the start
	// (a key frame forced for it) rather than after the device has opened.
	// Default 15s; 0 opens it at the start.
	Warmup time.Duration `toml:"warmup"`
	// AdhocMax stops an ad-hoc recording after this long. Default 2h.
	AdhocMax time.Duration `toml:"adhoc_max"`
	// MinLength is the shortest recording Kaltura can process. Default 10s.
	MinLength time.Duration `toml:"min_length"`
	// ShortPolicy says what happens to a recording shorter than MinLength:
	// "keep-local" (kept on the box and listed on the console, not uploaded)
	// or "upload-tagged" (uploaded with a tag). Default "keep-local".
	ShortPolicy string `toml:"short_policy"`
	// Dir holds recordings. Default "" in the file, which Parse resolves to
	// DataDir + "/recordings"; a parsed Config always holds the absolute path.
	Dir string `toml:"dir"`
	// SilenceAfter: a stretch of silence on the sound input at least this
	// long is noted in the recording's sidecar, for the upload to mention.
	// Default 30s.
	SilenceAfter time.Duration `toml:"silence_after"`
	// BlackAfter: a stretch of black picture (a laptop asleep, a muted
	// source) at least this long is noted in the recording's sidecar and
	// in the entry's description. Default 30s.
	BlackAfter time.Duration `toml:"black_after"`
	// KeepPartsSeparate uploads each part of a scheduled event (after a
	// crash, a power cut, a button stop and resume) as an entry of its
	// own, titled "(part N)". Default false: the parts are joined into one
	// entry when the event's recording ends, the gaps noted in its
	// description.
	KeepPartsSeparate bool `toml:"keep_parts_separate"`
}

// Upload is the [upload] section (kaltura.md §4).
type Upload struct {
	// ChunkSize of a resumable upload, 100KiB..64MiB. Default 4MiB.
	ChunkSize Size `toml:"chunk_size"`
	// BandwidthLimit in bytes per second; 0 = unlimited. Default 0.
	BandwidthLimit Size `toml:"bandwidth_limit"`
	// Retention keeps an uploaded recording this long after its entry is
	// READY, space permitting. Default 7d.
	Retention time.Duration `toml:"retention"`
	// UnverifiedRetention keeps a recording delivered to Kaltura but not
	// verified (its entry id was lost) this long when no technician
	// acknowledges it on the console (ack). Default 30d.
	UnverifiedRetention time.Duration `toml:"unverified_retention"`
	// MinFreeSpace is the free space the disk guard keeps. Default 2GiB.
	MinFreeSpace Size `toml:"min_free_space"`
	// MaxBackoff caps the retry delay of a failing upload. Default 10m.
	MaxBackoff time.Duration `toml:"max_backoff"`
}

// Hardware is the [hardware] section.
type Hardware struct {
	// LEDPin is the recording LED's BCM pin name. Default "GPIO17".
	LEDPin string `toml:"led_pin"`
	// LEDActive is "high" (the LED lights when its pin is high: pin,
	// resistor, LED, ground) or "low" (3.3 V, resistor, LED, pin).
	// Default "high".
	LEDActive string `toml:"led_active"`
	// ButtonPin is the button's BCM pin name. Default "GPIO27".
	ButtonPin string `toml:"button_pin"`
	// LongPress is how long the button is held to stop a scheduled
	// recording early. Default 2s.
	LongPress time.Duration `toml:"long_press"`
	// DisplayPort is the serial character display's device; "" = none.
	// Default "".
	DisplayPort string `toml:"display_port"`
	// DisplayType is "serlcd" (SparkFun SerLCD / OpenLCD, HD44780
	// commands after 0xFE) or "plain" (each screen as lines ending in
	// CR LF). Default "serlcd".
	DisplayType string `toml:"display_type"`
	// DisplaySize is "<columns>x<rows>". Default "16x2".
	DisplaySize string `toml:"display_size"`
	// DisplayBaud is the display's serial speed. Default 9600.
	DisplayBaud int `toml:"display_baud"`
	// ConsolePort is the service console's serial device; "" = none.
	// Default "/dev/serial0".
	ConsolePort string `toml:"console_port"`
	// ConsoleBaud is the console's serial speed. Default 115200.
	ConsoleBaud int `toml:"console_baud"`
	// ConsolePIN, when set, is asked for before the service console takes
	// any command. Default "" (no PIN).
	ConsolePIN Secret `toml:"console_pin"`
	// CaptureDevice is the V4L2 video device. Default "/dev/video0".
	CaptureDevice string `toml:"capture_device"`
	// VideoEncoder is the H.264 encoder: "auto" (the hardware encoder when
	// a V4L2 memory-to-memory H.264 encoder is found at /dev/video10 to
	// /dev/video19, as the Pi Zero 2 W, 3 and 4 have at /dev/video11, else
	// openh264), "v4l2m2m" (the hardware encoder, or a fault) or
	// "openh264" (software). Default "auto".
	VideoEncoder string `toml:"video_encoder"`
	// AudioDevice is "auto" (the first ALSA capture device), "none", or
	// "hw:<card>,<device>". Default "auto".
	AudioDevice string `toml:"audio_device"`
}

// Default returns the configuration a file with no keys would give, before
// validation: required keys are empty.
func Default() *Config {
	return &Config{
		Box: Box{
			Timezone:      "UTC",
			DataDir:       "/data/capturebox",
			LogLevel:      "info",
			LedgerMaxSize: 4 * MiB,
		},
		Kaltura: Kaltura{
			ServiceURL:       "https://www.kaltura.com",
			AppTokenHashType: "SHA1",
			RequestTimeout:   30 * time.Second,
		},
		Sync: Sync{
			Transport:       "https",
			Interval:        2 * time.Minute,
			MaxAge:          6 * time.Hour,
			Jitter:          30 * time.Second,
			Window:          14 * Day,
			RecordOnly:      true,
			PageSize:        500,
			MaxResponseSize: MaxScheduleResponse,
		},
		Recording: Recording{
			AdhocMax:     2 * time.Hour,
			Preflight:    10 * time.Minute,
			Warmup:       15 * time.Second,
			MinLength:    10 * time.Second,
			ShortPolicy:  ShortKeepLocal,
			Dir:          "/data/capturebox/recordings",
			SilenceAfter: 30 * time.Second,
			BlackAfter:   30 * time.Second,
		},
		Upload: Upload{
			ChunkSize:           4 * MiB,
			Retention:           7 * Day,
			UnverifiedRetention: 30 * Day,
			MinFreeSpace:        2 * GiB,
			MaxBackoff:          10 * time.Minute,
		},
		Hardware: Hardware{
			LEDPin:        "GPIO17",
			LEDActive:     "high",
			ButtonPin:     "GPIO27",
			LongPress:     2 * time.Second,
			DisplayType:   "serlcd",
			DisplaySize:   "16x2",
			DisplayBaud:   9600,
			ConsolePort:   "/dev/serial0",
			ConsoleBaud:   115200,
			CaptureDevice: "/dev/video0",
			VideoEncoder:  "auto",
			AudioDevice:   "auto",
		},
	}
}

// MaxScheduleResponse is the largest schedule response the box reads: the
// schedule parser's own limit (icalparse.DefaultMaxBytes), whose parse
// stays within the box's memory budget (scripts/bench-schedule.sh). It is
// sync.max_response_size's default and its ceiling.
const MaxScheduleResponse = Size(icalparse.DefaultMaxBytes)

// The values of Recording.ShortPolicy.
const (
	ShortKeepLocal    = "keep-local"
	ShortUploadTagged = "upload-tagged"
)

// The values of Sync.Transport.
const (
	TransportHTTPS = "https"
	TransportFTP   = "ftp"
)

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	d := *c
	return &d
}

// Masked returns a copy of c whose set secrets hold the mask itself, so that
// not even Reveal can return them. Use it to hand the configuration to code
// that has no business with credentials.
func (c *Config) Masked() *Config {
	d := c.Clone()
	forEachSecret(d, func(s *Secret) {
		if *s != "" {
			*s = Secret(Mask)
		}
	})
	return d
}

// resolve fills the values derived from others.
func (c *Config) resolve() {
	if c.Recording.Dir == "" && c.Box.DataDir != "" {
		c.Recording.Dir = filepath.Join(c.Box.DataDir, "recordings")
	}
}

var locations sync.Map // zone name -> *time.Location

// Location returns the box's time zone. It falls back to UTC only for a
// Box that did not come from Parse (Parse refuses an unknown zone).
func (b Box) Location() *time.Location {
	if l, ok := locations.Load(b.Timezone); ok {
		return l.(*time.Location)
	}
	l, err := loadLocation(b.Timezone)
	if err != nil {
		return time.UTC
	}
	locations.Store(b.Timezone, l)
	return l
}

func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, errNotIANA
	}
	return time.LoadLocation(name)
}

// SlogLevel returns LogLevel as a slog.Level (info for an unknown name).
func (b Box) SlogLevel() slog.Level {
	switch strings.ToLower(b.LogLevel) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// DisplayDims returns DisplaySize as columns and rows (0, 0 if malformed,
// which Parse refuses).
func (h Hardware) DisplayDims() (cols, rows int) {
	cs, rs, ok := strings.Cut(h.DisplaySize, "x")
	if !ok {
		return 0, 0
	}
	c, err1 := strconv.Atoi(cs)
	r, err2 := strconv.Atoi(rs)
	if err1 != nil || err2 != nil {
		return 0, 0
	}
	return c, r
}
