package kalturasim

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

func TestTokenHashPerType(t *testing.T) {
	e := newEnv(t, Options{})
	hexOf := func(b []byte) string { return hex.EncodeToString(b) }
	tests := []struct {
		hashType string
		sum      func(string) string
	}{
		{"SHA1", func(s string) string { h := sha1.Sum([]byte(s)); return hexOf(h[:]) }},
		{"MD5", func(s string) string { h := md5.Sum([]byte(s)); return hexOf(h[:]) }},
		{"SHA256", func(s string) string { h := sha256.Sum256([]byte(s)); return hexOf(h[:]) }},
		{"SHA512", func(s string) string { h := sha512.Sum512([]byte(s)); return hexOf(h[:]) }},
	}
	for _, tc := range tests {
		t.Run(tc.hashType, func(t *testing.T) {
			tok, err := e.srv.AddAppToken(AppTokenSpec{HashType: tc.hashType})
			if err != nil {
				t.Fatal(err)
			}
			if len(tok.Token) != 32 {
				t.Fatalf("token %q is not 32 hex chars", tok.Token)
			}
			wks := str(e.ok("session", "startWidgetSession", map[string]string{"widgetId": "_1234567"})["ks"])
			good := tc.sum(wks + tok.Token)
			for _, bad := range []string{strings.ToUpper(good), tc.sum(tok.Token + wks), tc.sum(wks)} {
				v := e.call("apptoken", "startSession", map[string]string{"ks": wks, "id": tok.ID, "tokenHash": bad})
				if code(v) != CodeInvalidAppTokenHash {
					t.Fatalf("hash %s: got %v", bad, v)
				}
			}
			m := e.ok("apptoken", "startSession", map[string]string{"ks": wks, "id": tok.ID, "tokenHash": good})
			if m["objectType"] != "KalturaSessionInfo" || !strings.HasPrefix(str(m["ks"]), "djJ8") {
				t.Fatalf("session info %v", m)
			}
			// The hash of the KS actually sent counts: another widget KS fails.
			wks2 := str(e.ok("session", "startWidgetSession", map[string]string{"widgetId": "_1234567"})["ks"])
			if code(e.call("apptoken", "startSession", map[string]string{"ks": wks2, "id": tok.ID, "tokenHash": good})) != CodeInvalidAppTokenHash {
				t.Fatal("hash of another KS accepted")
			}
		})
	}
}

func TestStartSessionErrorOrder(t *testing.T) {
	e := newEnv(t, Options{})
	now := epoch.Unix()
	mk := func(spec AppTokenSpec) AppToken {
		tok, err := e.srv.AddAppToken(spec)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	active := mk(AppTokenSpec{})
	deleted := mk(AppTokenSpec{})
	if err := e.srv.DeleteAppToken(deleted.ID); err != nil {
		t.Fatal(err)
	}
	disabled := mk(AppTokenSpec{})
	if err := e.srv.SetAppTokenStatus(disabled.ID, AppTokenDisabled); err != nil {
		t.Fatal(err)
	}
	expired := mk(AppTokenSpec{Expiry: now - 10})
	tests := []struct {
		name     string
		tok      AppToken
		goodHash bool
		want     string
	}{
		{"unknown id", AppToken{ID: "0_nosuchid", HashType: "SHA1"}, false, CodeAppTokenIDNotFound},
		{"deleted beats bad hash", deleted, false, CodeAppTokenIDNotFound},
		{"deleted with good hash", deleted, true, CodeAppTokenIDNotFound},
		{"disabled beats bad hash", disabled, false, CodeAppTokenNotActive},
		{"bad hash beats expired", expired, false, CodeInvalidAppTokenHash},
		{"expired checked after the hash", expired, true, CodeAppTokenExpired},
		{"bad hash", active, false, CodeInvalidAppTokenHash},
		{"ok", active, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wks := str(e.ok("session", "startWidgetSession", map[string]string{"widgetId": "_1234567"})["ks"])
			h := "0000"
			if tc.goodHash {
				h, _ = TokenHash(tc.tok.HashType, wks, tc.tok.Token)
			}
			v := e.call("apptoken", "startSession", map[string]string{"ks": wks, "id": tc.tok.ID, "tokenHash": h})
			if got := code(v); got != tc.want {
				t.Fatalf("got %q want %q: %v", got, tc.want, v)
			}
		})
	}
	// startSession needs the widget KS.
	if code(e.call("apptoken", "startSession", map[string]string{"id": active.ID, "tokenHash": "x"})) != CodeMissingKS {
		t.Fatal("startSession without KS")
	}
}

func TestStartSessionOverridesAndExpiry(t *testing.T) {
	e := newEnv(t, Options{})
	now := epoch.Unix()
	tests := []struct {
		name      string
		spec      AppTokenSpec
		reqExpiry string
		reqType   string
		reqUser   string
		reqPrivs  string
		wantType  int64
		wantUser  string
		wantExp   int64
		wantPrivs string // suffix after sessionid/apptoken
	}{
		{"defaults", AppTokenSpec{}, "", "", "", "", 0, "", now + 86400, ""},
		{"token type and user override", AppTokenSpec{SessionType: 2, SessionUserID: "dev1"}, "", "0", "other", "", 2, "dev1", now + 86400, ""},
		{"user from request when token has none", AppTokenSpec{}, "", "2", "caller", "", 0, "caller", now + 86400, ""},
		{"requested expiry wins", AppTokenSpec{SessionDuration: 7200}, "600", "", "", "", 0, "", now + 600, ""},
		{"session duration caps", AppTokenSpec{SessionDuration: 7200}, "100000", "", "", "", 0, "", now + 7200, ""},
		{"token expiry caps", AppTokenSpec{Expiry: now + 300}, "100000", "", "", "", 0, "", now + 300, ""},
		{"token privileges, reserved extras dropped", AppTokenSpec{SessionPrivileges: "disableentitlement,setrole:CAPTURE_DEVICE_ROLE"},
			"", "", "", "setrole:OTHER,sessionid:x,reftime:5", 0, "", now + 86400, ",disableentitlement,setrole:CAPTURE_DEVICE_ROLE,reftime:5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := e.srv.AddAppToken(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			wks := str(e.ok("session", "startWidgetSession", map[string]string{"widgetId": "_1234567"})["ks"])
			h, _ := TokenHash(tok.HashType, wks, tok.Token)
			p := map[string]string{"ks": wks, "id": tok.ID, "tokenHash": h}
			for k, v := range map[string]string{"expiry": tc.reqExpiry, "type": tc.reqType, "userId": tc.reqUser, "sessionPrivileges": tc.reqPrivs} {
				if v != "" {
					p[k] = v
				}
			}
			m := e.ok("apptoken", "startSession", p)
			if num(m["sessionType"]) != tc.wantType || str(m["userId"]) != tc.wantUser || num(m["expiry"]) != tc.wantExp {
				t.Fatalf("got type %v user %v expiry %v", m["sessionType"], m["userId"], m["expiry"])
			}
			wantPrivs := "sessionid:" + tok.ID + ",apptoken:" + tok.ID + tc.wantPrivs
			if str(m["privileges"]) != wantPrivs {
				t.Fatalf("privileges %q want %q", m["privileges"], wantPrivs)
			}
			// The KS carries what the session info says.
			c, ex := e.srv.validateKS(str(m["ks"]), epoch)
			if ex != nil || c.UserID != tc.wantUser || int64(c.SessionType) != tc.wantType || strings.Join(c.Privileges, ",") != wantPrivs {
				t.Fatalf("ks decodes to %+v (%v)", c, ex)
			}
		})
	}
}

func TestKSValidation(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.deviceToken("box1")
	ks := e.deviceSession(tok)
	list := func(ks string) any { return e.call("uploadtoken", "list", map[string]string{"ks": ks}) }
	if code(list(ks)) != "" {
		t.Fatal("fresh KS refused")
	}
	// INVALID_STR carries the raw KS in args.KSID.
	for _, bad := range []string{"garbage", "djJ8MTIzNDU2N3xhYmNk", ks[:len(ks)-8] + "AAAAAAA="} {
		v := list(bad)
		if code(v) != CodeInvalidKS || argOf(v, "KSID") != bad {
			t.Fatalf("bad ks %q: %v", bad, v)
		}
	}
	// EXPIRED by the clock.
	e.srv.AdvanceClock(86401 * time.Second)
	if v := list(ks); code(v) != CodeInvalidKS || argOf(v, "KSID") != KSExpired {
		t.Fatalf("expired: %v", v)
	}
}

func TestRevocation(t *testing.T) {
	e := newEnv(t, Options{})
	list := func(ks string) any { return e.call("uploadtoken", "list", map[string]string{"ks": ks}) }
	isLogout := func(v any) bool { return code(v) == CodeInvalidKS && argOf(v, "KSID") == KSLogout }

	t.Run("disable does not revoke, delete does", func(t *testing.T) {
		tok := e.deviceToken("box1")
		ks := e.deviceSession(tok)
		if err := e.srv.SetAppTokenStatus(tok.ID, AppTokenDisabled); err != nil {
			t.Fatal(err)
		}
		if v := list(ks); code(v) != "" {
			t.Fatalf("disabled token revoked its KS: %v", v)
		}
		if err := e.srv.DeleteAppToken(tok.ID); err != nil {
			t.Fatal(err)
		}
		if v := list(ks); !isLogout(v) {
			t.Fatalf("deleted token's KS: %v", v)
		}
	})
	t.Run("apptoken.delete over the API", func(t *testing.T) {
		tok := e.deviceToken("box1")
		ks := e.deviceSession(tok)
		e.ok("apptoken", "get", map[string]string{"ks": e.adminKS(), "id": tok.ID})
		if v := e.call("apptoken", "delete", map[string]string{"ks": e.adminKS(), "id": tok.ID}); v != nil {
			t.Fatalf("delete: %v", v)
		}
		if !isLogout(list(ks)) {
			t.Fatal("not revoked")
		}
		if code(e.call("apptoken", "get", map[string]string{"ks": e.adminKS(), "id": tok.ID})) != CodeAppTokenIDNotFound {
			t.Fatal("deleted token still visible")
		}
	})
	t.Run("session.end trap", func(t *testing.T) {
		tok := e.deviceToken("box1")
		other := e.deviceToken("box2")
		ks1 := e.deviceSession(tok)
		ks2 := e.deviceSession(tok)
		ksOther := e.deviceSession(other)
		if v := e.call("session", "end", map[string]string{"ks": ks1}); v != nil {
			t.Fatalf("end: %v", v)
		}
		if !isLogout(list(ks1)) || !isLogout(list(ks2)) {
			t.Fatal("sessions of the token not revoked")
		}
		// New sessions of that token start but are dead on arrival.
		ks3 := e.deviceSession(tok)
		if !isLogout(list(ks3)) {
			t.Fatal("new session of the token not revoked")
		}
		if code(list(ksOther)) != "" {
			t.Fatal("other token's session revoked")
		}
		// 24 hours later the token works again.
		e.srv.AdvanceClock(24*time.Hour + time.Second)
		ks4 := e.deviceSession(tok)
		if v := list(ks4); code(v) != "" {
			t.Fatalf("after 24h: %v", v)
		}
	})
	t.Run("session.end on a plain KS", func(t *testing.T) {
		a := e.srv.IssueKS("u1", kapi.SessionUser, time.Hour)
		b := e.srv.IssueKS("u1", kapi.SessionUser, time.Hour)
		e.call("session", "end", map[string]string{"ks": a})
		if !isLogout(list(a)) || code(list(b)) != "" {
			t.Fatal("plain session.end must revoke only that KS")
		}
	})
}

func TestRoles(t *testing.T) {
	e := newEnv(t, Options{})
	noop := func(c kapi.Caller, p kapi.Params) (any, error) { return object("KalturaX"), nil }
	for _, a := range []string{"get", "list", "cancel", "getConflicts", "add", "update"} {
		e.srv.Register("schedule_scheduleEvent", a, noop)
	}
	dev := e.deviceSession(e.deviceToken("box1"))
	admin := e.adminKS()
	widget := str(e.ok("session", "startWidgetSession", map[string]string{"widgetId": "_1234567"})["ks"])
	user := e.srv.IssueKS("u1", kapi.SessionUser, time.Hour)
	tests := []struct {
		ks, service, action string
		forbidden           bool
	}{
		{dev, "uploadtoken", "add", false},
		{dev, "uploadtoken", "list", false},
		{dev, "uploadtoken", "delete", true},
		{dev, "schedule_scheduleevent", "list", false},
		{dev, "schedule_scheduleevent", "add", false},
		{dev, "schedule_scheduleevent", "update", false},
		{dev, "schedule_scheduleevent", "get", true},
		{dev, "schedule_scheduleevent", "cancel", true},
		{dev, "schedule_scheduleevent", "getConflicts", true},
		{dev, "baseentry", "list", true},
		{dev, "media", "list", true},
		{dev, "user", "list", false},
		{dev, "flavorparams", "list", false},
		{dev, "apptoken", "list", true},
		{admin, "uploadtoken", "delete", false},
		{admin, "schedule_scheduleevent", "get", false},
		{admin, "apptoken", "list", false},
		{user, "apptoken", "list", true},
		{user, "schedule_scheduleevent", "get", false},
		{widget, "uploadtoken", "add", true},
		{widget, "schedule_scheduleevent", "list", true},
	}
	for _, tc := range tests {
		v := e.call(tc.service, tc.action, map[string]string{"ks": tc.ks, "uploadTokenId": "0_x", "id": "x"})
		got := code(v) == CodeServiceForbidden
		if got != tc.forbidden {
			t.Errorf("%s.%s forbidden=%v, want %v (%v)", tc.service, tc.action, got, tc.forbidden, v)
		}
		if got {
			m := v.(map[string]any)
			want := "[" + strings.ToLower(tc.service) + "->" + strings.ToLower(tc.action) + "] is forbidden"
			if !strings.Contains(str(m["message"]), want) {
				t.Errorf("message %q lacks %q", m["message"], want)
			}
		}
	}
}

func TestLoginByLoginID(t *testing.T) {
	e := newEnv(t, Options{})
	if err := e.srv.AddUser(User{ID: "ftpuser", LoginID: "ftp@example.com", Password: "secret"}); err != nil {
		t.Fatal(err)
	}
	if code(e.call("user", "loginByLoginId", map[string]string{"loginId": "ftp@example.com", "password": "nope"})) != CodeUserWrongPassword {
		t.Fatal("wrong password accepted")
	}
	ks := str(e.call("user", "loginByLoginId", map[string]string{"loginId": "ftp@example.com", "password": "secret"}))
	c, ex := e.srv.validateKS(ks, epoch)
	if ex != nil || c.UserID != "ftpuser" || c.Role != "" {
		t.Fatalf("login ks: %+v %v", c, ex)
	}
	lc, err := e.srv.LoginCaller(1234567, "ftp@example.com", "secret")
	if err != nil || lc.UserID != "ftpuser" {
		t.Fatalf("LoginCaller: %+v %v", lc, err)
	}
}
