package kalturasim

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ksData is what a v2 KS carries (kaltura.md §3, S kSessionBase).
type ksData struct {
	PartnerID  int64
	UserID     string
	Type       int
	Expiry     int64 // Unix seconds
	Privileges []string
}

// ksBlockSize is the AES block size.
const ksBlockSize = 16

// ksKey derives the AES-128 key from the partner's admin secret:
// the first 16 bytes of sha1(secret).
func ksKey(secret string) []byte {
	h := sha1.Sum([]byte(secret))
	return h[:16]
}

// encodeKS builds a v2 KS: base64url (with '=' kept) of "v2|<pid>|" and an
// AES-128-CBC blob (zero IV, zero padding) of sha1 ‖ 16 random bytes ‖
// urlencoded privileges plus _e, _t, _u.
func (s *Server) encodeKS(d ksData, secret string) string {
	var fields strings.Builder
	for _, priv := range d.Privileges {
		name, val, _ := strings.Cut(priv, ":")
		fields.WriteString(url.QueryEscape(name) + "=" + url.QueryEscape(val) + "&")
	}
	fields.WriteString("_e=" + strconv.FormatInt(d.Expiry, 10))
	fields.WriteString("&_t=" + strconv.Itoa(d.Type))
	fields.WriteString("&_u=" + url.QueryEscape(d.UserID))
	rnd := make([]byte, 16)
	s.randBytes(rnd)
	plain := append(rnd, fields.String()...)
	sum := sha1.Sum(plain)
	plain = append(sum[:], plain...)
	if pad := len(plain) % ksBlockSize; pad != 0 {
		plain = append(plain, make([]byte, ksBlockSize-pad)...)
	}
	block, _ := aes.NewCipher(ksKey(secret))
	enc := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, make([]byte, ksBlockSize)).CryptBlocks(enc, plain)
	raw := append([]byte("v2|"+strconv.FormatInt(d.PartnerID, 10)+"|"), enc...)
	return base64.URLEncoding.EncodeToString(raw)
}

var errKSFormat = errors.New("ks: invalid string")

// ksPartner reads the partner id, the only thing readable without the secret.
func ksPartner(ks string) (pid int64, blob []byte, err error) {
	raw, err := base64.URLEncoding.DecodeString(ks)
	if err != nil {
		// Tolerate missing padding, as PHP's base64 decoding does.
		raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(ks, "="))
		if err != nil {
			return 0, nil, errKSFormat
		}
	}
	rest, ok := bytes.CutPrefix(raw, []byte("v2|"))
	if !ok {
		return 0, nil, errKSFormat
	}
	i := bytes.IndexByte(rest, '|')
	if i <= 0 {
		return 0, nil, errKSFormat
	}
	pid, err = strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil {
		return 0, nil, errKSFormat
	}
	return pid, rest[i+1:], nil
}

// decodeKS decrypts and checks a v2 KS with the partner's secret.
func decodeKS(blob []byte, pid int64, secret string) (ksData, error) {
	if len(blob) == 0 || len(blob)%ksBlockSize != 0 {
		return ksData{}, errKSFormat
	}
	block, _ := aes.NewCipher(ksKey(secret))
	plain := make([]byte, len(blob))
	cipher.NewCBCDecrypter(block, make([]byte, ksBlockSize)).CryptBlocks(plain, blob)
	plain = bytes.TrimRight(plain, "\x00")
	if len(plain) < sha1.Size+16 {
		return ksData{}, errKSFormat
	}
	sum := sha1.Sum(plain[sha1.Size:])
	if !bytes.Equal(sum[:], plain[:sha1.Size]) {
		return ksData{}, errKSFormat
	}
	d := ksData{PartnerID: pid}
	for _, kv := range strings.Split(string(plain[sha1.Size+16:]), "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		switch k {
		case "_e":
			d.Expiry, _ = strconv.ParseInt(v, 10, 64)
		case "_t":
			d.Type, _ = strconv.Atoi(v)
		case "_u":
			d.UserID = v
		default:
			if v == "" {
				d.Privileges = append(d.Privileges, k)
			} else {
				d.Privileges = append(d.Privileges, k+":"+v)
			}
		}
	}
	return d, nil
}

// privilegeValue returns the value of the first `name:value` privilege.
func privilegeValue(privs []string, name string) (string, bool) {
	for _, p := range privs {
		n, v, _ := strings.Cut(p, ":")
		if n == name {
			return v, true
		}
	}
	return "", false
}

// sessionKey is sha1(pid_sessionid), the key revocation works on
// (S invalidSessionPeer; kaltura.md §3).
func sessionKey(pid int64, sessionID string) string {
	h := sha1.Sum([]byte(strconv.FormatInt(pid, 10) + "_" + sessionID))
	return hex.EncodeToString(h[:])
}

// ksKeyOf is the revocation key of a KS without a sessionid privilege.
func ksKeyOf(ks string) string {
	h := sha1.Sum([]byte(ks))
	return "ks:" + hex.EncodeToString(h[:])
}

// invalidate revokes key until the given time.
func (s *Server) invalidate(key string, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.invalid[key]; !ok || until.After(old) {
		s.invalid[key] = until
	}
}
