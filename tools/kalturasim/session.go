package kalturasim

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// partner is one simulated account.
type partner struct {
	ID          int64
	AdminSecret string
	Secret      string
	// LegacyICal is FEATURE_DISABLE_NEW_ICAL_STANDARD.
	LegacyICal bool
}

// User is a partner's user. LoginID and Password allow user.loginByLoginId
// (the FTP front logs in this way). Role "" means the user's own role,
// which in the simulator has every permission.
type User struct {
	PartnerID int64  `json:"partnerId"`
	ID        string `json:"id"`
	LoginID   string `json:"loginId,omitempty"`
	Password  string `json:"-"`
	Role      string `json:"role,omitempty"`
	IsAdmin   bool   `json:"isAdmin"`
	FirstName string `json:"firstName,omitempty"`
	LastName  string `json:"lastName,omitempty"`
	CreatedAt int64  `json:"createdAt"`
}

// App token statuses (KalturaAppTokenStatus).
const (
	AppTokenDisabled = 1
	AppTokenActive   = 2
	AppTokenDeleted  = 3
)

// AppToken is an application token (S AppToken; kaltura.md §3).
type AppToken struct {
	ID                string `json:"id"`
	Token             string `json:"token"`
	PartnerID         int64  `json:"partnerId"`
	Status            int    `json:"status"`
	HashType          string `json:"hashType"`
	SessionType       int    `json:"sessionType"`
	SessionUserID     string `json:"sessionUserId,omitempty"`
	SessionDuration   int64  `json:"sessionDuration"`
	Expiry            int64  `json:"expiry,omitempty"`
	SessionPrivileges string `json:"sessionPrivileges,omitempty"`
	Description       string `json:"description,omitempty"`
	CreatedAt         int64  `json:"createdAt"`
	UpdatedAt         int64  `json:"updatedAt"`
}

// AppTokenSpec is what AddAppToken takes; zero fields take Kaltura's
// defaults (SHA1, USER session, 86400 s).
type AppTokenSpec struct {
	PartnerID         int64  `json:"partnerId,omitempty"`
	HashType          string `json:"hashType,omitempty"`
	SessionType       int    `json:"sessionType,omitempty"`
	SessionUserID     string `json:"sessionUserId,omitempty"`
	SessionDuration   int64  `json:"sessionDuration,omitempty"`
	Expiry            int64  `json:"expiry,omitempty"`
	SessionPrivileges string `json:"sessionPrivileges,omitempty"`
	Description       string `json:"description,omitempty"`
	// Token, when set, is used instead of a random one (32 hex chars).
	Token string `json:"token,omitempty"`
}

// hashFuncs are the app token hash types.
var hashFuncs = map[string]func() hash.Hash{
	"SHA1":   sha1.New,
	"MD5":    md5.New,
	"SHA256": sha256.New,
	"SHA512": sha512.New,
}

// TokenHash is lowercase hex HASH(ks ‖ token), what appToken.startSession
// compares with `!==` (kaltura.md §3).
func TokenHash(hashType, ks, token string) (string, error) {
	f, ok := hashFuncs[strings.ToUpper(hashType)]
	if !ok {
		return "", fmt.Errorf("unknown hash type %q", hashType)
	}
	h := f()
	h.Write([]byte(ks + token))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// reservedPrivileges cannot be asked for at appToken.startSession; they
// must live on the token (S kSessionUtils::retrieveAllowedAppSessionPrivileges).
var reservedPrivileges = []string{
	"setrole", "sessionid", "apptoken", "disableentitlement", "disableentitlementforentry",
	"enableentitlement", "privacycontext", "actionslimit", "iprestrict", "urirestrict", "widget",
}

func (s *Server) addPartner(id int64, adminSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partners[id] = &partner{ID: id, AdminSecret: adminSecret, Secret: DefaultUserSecret}
	s.users[id] = map[string]*User{}
	s.users[id]["admin"] = &User{PartnerID: id, ID: "admin", LoginID: "admin@example.com", Password: "admin", IsAdmin: true}
}

// PartnerID returns the seeded partner's id.
func (s *Server) PartnerID() int64 { return s.opts.PartnerID }

// AdminSecret returns the seeded partner's admin secret.
func (s *Server) AdminSecret() string { return s.opts.AdminSecret }

// SetLegacyICal switches the partner's FEATURE_DISABLE_NEW_ICAL_STANDARD.
func (s *Server) SetLegacyICal(partnerID int64, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.partners[partnerID]; p != nil {
		p.LegacyICal = on
	}
}

// AddUser adds or replaces a user of u.PartnerID (default: the seeded partner).
func (s *Server) AddUser(u User) error {
	if u.PartnerID == 0 {
		u.PartnerID = s.opts.PartnerID
	}
	if u.ID == "" {
		return fmt.Errorf("kalturasim: add user: empty id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[u.PartnerID] == nil {
		return fmt.Errorf("kalturasim: add user: unknown partner %d", u.PartnerID)
	}
	if u.CreatedAt == 0 {
		u.CreatedAt = s.Now().Unix()
	}
	s.users[u.PartnerID][u.ID] = &u
	return nil
}

// IssueKS returns a KS for the seeded partner, as session.start with the
// admin secret would: sessionType kapi.SessionAdmin or kapi.SessionUser.
func (s *Server) IssueKS(userID string, sessionType int, expiry time.Duration, privileges ...string) string {
	return s.encodeKS(ksData{
		PartnerID: s.opts.PartnerID, UserID: userID, Type: sessionType,
		Expiry: s.Now().Add(expiry).Unix(), Privileges: privileges,
	}, s.opts.AdminSecret)
}

// validateKS checks a KS on every call (kaltura.md §6): INVALID_STR for
// an unparseable one (args.KSID carries the raw KS), EXPIRED, LOGOUT.
func (s *Server) validateKS(ks string, now time.Time) (kapi.Caller, *kapi.Exception) {
	pid, blob, err := ksPartner(ks)
	if err != nil {
		return kapi.Caller{}, errInvalidKS(ks)
	}
	s.mu.Lock()
	p := s.partners[pid]
	var secret string
	legacy := false
	if p != nil {
		secret, legacy = p.AdminSecret, p.LegacyICal
	}
	faultExpired := s.expiredKS[ks]
	s.mu.Unlock()
	if p == nil {
		return kapi.Caller{}, errInvalidKS(KSInvalidPartner)
	}
	d, err := decodeKS(blob, pid, secret)
	if err != nil {
		return kapi.Caller{}, errInvalidKS(ks)
	}
	if faultExpired || d.Expiry <= now.Unix() {
		return kapi.Caller{}, errInvalidKS(KSExpired)
	}
	key := ksKeyOf(ks)
	if sid, ok := privilegeValue(d.Privileges, "sessionid"); ok {
		key = sessionKey(pid, sid)
	}
	s.mu.Lock()
	until, revoked := s.invalid[key]
	s.mu.Unlock()
	if revoked && now.Before(until) {
		return kapi.Caller{}, errInvalidKS(KSLogout)
	}
	role, _ := privilegeValue(d.Privileges, "setrole")
	widget, _ := privilegeValue(d.Privileges, "widget")
	c := kapi.Caller{
		PartnerID:   pid,
		UserID:      d.UserID,
		SessionType: d.Type,
		Role:        role,
		Privileges:  d.Privileges,
		KSID:        key,
		Widget:      widget == "1",
		LegacyICal:  legacy,
		Now:         now,
	}
	if role != "" && role != kapi.RoleCaptureDevice {
		return kapi.Caller{}, kapi.Errorf(CodeInvalidObjectID, "Invalid object id ["+role+"]", "ID", role)
	}
	return c, nil
}

// expiry returns the absolute expiry of a session that lasts secs from now.
func expiryFrom(now time.Time, secs int64) int64 { return now.Unix() + secs }

func (s *Server) registerSessionServices() {
	s.register("session", "startWidgetSession", &handler{noKS: true, widget: true, fn: s.sessionStartWidget})
	s.register("session", "start", &handler{noKS: true, widget: true, fn: s.sessionStart})
	s.register("session", "end", &handler{widget: true, fn: s.sessionEnd})
	s.register("apptoken", "add", &handler{admin: true, fn: s.appTokenAdd})
	s.register("apptoken", "get", &handler{admin: true, fn: s.appTokenGet})
	s.register("apptoken", "list", &handler{admin: true, fn: s.appTokenList})
	s.register("apptoken", "update", &handler{admin: true, fn: s.appTokenUpdate})
	s.register("apptoken", "delete", &handler{admin: true, fn: s.appTokenDelete})
	s.register("apptoken", "startSession", &handler{widget: true, fn: s.appTokenStartSession})
	s.register("user", "list", &handler{fn: s.userList})
	s.register("user", "loginByLoginId", &handler{noKS: true, widget: true, fn: s.userLogin})
	s.register("flavorparams", "list", &handler{fn: s.flavorParamsList})
}

// session.startWidgetSession(widgetId, expiry=86400) → {ks, partnerId, userId:0}.
func (s *Server) sessionStartWidget(r *call) (any, error) {
	wid := r.p.String("widgetId")
	if wid == "" {
		return nil, errMissingParam("widgetId")
	}
	pid, err := strconv.ParseInt(strings.TrimPrefix(wid, "_"), 10, 64)
	s.mu.Lock()
	p := s.partners[pid]
	s.mu.Unlock()
	if err != nil || !strings.HasPrefix(wid, "_") || p == nil {
		return nil, errInvalidWidget(wid)
	}
	exp, _, _ := r.p.Int("expiry")
	if exp <= 0 {
		exp = 86400
	}
	now := r.caller.Now
	ks := s.encodeKS(ksData{PartnerID: pid, Type: kapi.SessionUser, Expiry: expiryFrom(now, exp),
		Privileges: []string{"view:*", "widget:1"}}, p.AdminSecret)
	return object("KalturaStartWidgetSessionResponse", "partnerId", pid, "ks", ks, "userId", 0), nil
}

// session.start(secret, userId, type, partnerId, expiry, privileges) → ks.
func (s *Server) sessionStart(r *call) (any, error) {
	secret := r.p.String("secret")
	if secret == "" {
		return nil, errMissingParam("secret")
	}
	pid, _, _ := r.p.Int("partnerId")
	if pid == 0 {
		pid = s.opts.PartnerID
	}
	typ, _, _ := r.p.Int("type")
	s.mu.Lock()
	p := s.partners[pid]
	s.mu.Unlock()
	if p == nil || (secret != p.AdminSecret && (secret != p.Secret || typ == kapi.SessionAdmin)) {
		return nil, errStartSession(pid)
	}
	exp, _, _ := r.p.Int("expiry")
	if exp <= 0 {
		exp = 86400
	}
	var privs []string
	for _, pr := range strings.Split(r.p.String("privileges"), ",") {
		if pr = strings.TrimSpace(pr); pr != "" {
			privs = append(privs, pr)
		}
	}
	return s.encodeKS(ksData{PartnerID: pid, UserID: r.p.String("userId"), Type: int(typ),
		Expiry: expiryFrom(r.caller.Now, exp), Privileges: privs}, p.AdminSecret), nil
}

// session.end revokes the session. For an app-token KS the key is
// sha1(pid_appTokenId), so every KS of that token, new ones included, is
// LOGOUT for 24 hours: the trap of kaltura.md §3, reproduced on purpose.
func (s *Server) sessionEnd(r *call) (any, error) {
	now := r.caller.Now
	if _, ok := privilegeValue(r.caller.Privileges, "sessionid"); ok {
		s.invalidate(r.caller.KSID, now.Add(24*time.Hour))
		return nil, nil
	}
	// A plain KS is invalidated until it expires.
	s.invalidate(r.caller.KSID, now.Add(48*time.Hour))
	return nil, nil
}

// AddAppToken creates an app token, as appToken.add does.
func (s *Server) AddAppToken(spec AppTokenSpec) (AppToken, error) {
	if spec.PartnerID == 0 {
		spec.PartnerID = s.opts.PartnerID
	}
	ht := strings.ToUpper(spec.HashType)
	if ht == "" {
		ht = "SHA1"
	}
	if _, ok := hashFuncs[ht]; !ok {
		return AppToken{}, errInvalidEnum(spec.HashType, "hashType", "KalturaAppTokenHashType")
	}
	if spec.SessionDuration <= 0 {
		spec.SessionDuration = 86400
	}
	if spec.Token == "" {
		spec.Token = s.randHex(32)
	}
	now := s.Now().Unix()
	t := &AppToken{
		ID: "0_" + s.randID(8), Token: spec.Token, PartnerID: spec.PartnerID, Status: AppTokenActive,
		HashType: ht, SessionType: spec.SessionType, SessionUserID: spec.SessionUserID,
		SessionDuration: spec.SessionDuration, Expiry: spec.Expiry, SessionPrivileges: spec.SessionPrivileges,
		Description: spec.Description, CreatedAt: now, UpdatedAt: now,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.partners[spec.PartnerID] == nil {
		return AppToken{}, fmt.Errorf("kalturasim: add app token: unknown partner %d", spec.PartnerID)
	}
	s.appTokens[t.ID] = t
	return *t, nil
}

// ExpireKS makes a KS expired from now on (INVALID_KS EXPIRED), as if the
// server's clock had passed its expiry: a server-side expiry the box did
// not foresee.
func (s *Server) ExpireKS(ks string) {
	s.mu.Lock()
	s.expiredKS[ks] = true
	s.mu.Unlock()
}

// SetAppTokenStatus disables (AppTokenDisabled) or re-enables a token.
// Disabling does not revoke sessions already issued.
func (s *Server) SetAppTokenStatus(id string, status int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.appTokens[id]
	if t == nil || t.Status == AppTokenDeleted {
		return errAppToken(CodeAppTokenIDNotFound, id)
	}
	t.Status = status
	t.UpdatedAt = s.Now().Unix()
	return nil
}

// DeleteAppToken deletes a token and revokes every KS issued from it.
func (s *Server) DeleteAppToken(id string) error {
	s.mu.Lock()
	t := s.appTokens[id]
	if t == nil || t.Status == AppTokenDeleted {
		s.mu.Unlock()
		return errAppToken(CodeAppTokenIDNotFound, id)
	}
	t.Status = AppTokenDeleted
	t.UpdatedAt = s.Now().Unix()
	pid := t.PartnerID
	s.mu.Unlock()
	s.invalidate(sessionKey(pid, id), s.Now().Add(100*365*24*time.Hour))
	return nil
}

// AppTokens returns every token, deleted ones included.
func (s *Server) AppTokens() []AppToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AppToken, 0, len(s.appTokens))
	for _, t := range s.appTokens {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedAt < out[j].CreatedAt || (out[i].CreatedAt == out[j].CreatedAt && out[i].ID < out[j].ID)
	})
	return out
}

func appTokenObject(t AppToken) map[string]any {
	o := object("KalturaAppToken", "id", t.ID, "token", t.Token, "partnerId", t.PartnerID,
		"createdAt", t.CreatedAt, "updatedAt", t.UpdatedAt, "status", t.Status, "sessionType", t.SessionType,
		"sessionDuration", t.SessionDuration, "hashType", t.HashType)
	if t.Expiry != 0 {
		o["expiry"] = t.Expiry
	}
	if t.SessionUserID != "" {
		o["sessionUserId"] = t.SessionUserID
	}
	if t.SessionPrivileges != "" {
		o["sessionPrivileges"] = t.SessionPrivileges
	}
	if t.Description != "" {
		o["description"] = t.Description
	}
	return o
}

// visibleAppToken returns a token of the caller's partner that is not deleted.
func (s *Server) visibleAppToken(pid int64, id string) (AppToken, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.appTokens[id]
	if t == nil || t.PartnerID != pid || t.Status == AppTokenDeleted {
		return AppToken{}, false
	}
	return *t, true
}

func (s *Server) appTokenAdd(r *call) (any, error) {
	at := r.p.Sub("appToken")
	spec := AppTokenSpec{
		PartnerID: r.caller.PartnerID, HashType: at.String("hashType"), SessionUserID: at.String("sessionUserId"),
		SessionPrivileges: at.String("sessionPrivileges"), Description: at.String("description"), Token: at.String("token"),
	}
	if v, ok, err := at.Int("sessionType"); err != nil {
		return nil, errInvalidEnum(at.String("sessionType"), "sessionType", "KalturaSessionType")
	} else if ok {
		spec.SessionType = int(v)
	}
	spec.SessionDuration, _, _ = at.Int("sessionDuration")
	spec.Expiry, _, _ = at.Int("expiry")
	t, err := s.AddAppToken(spec)
	if err != nil {
		return nil, err
	}
	return appTokenObject(t), nil
}

func (s *Server) appTokenGet(r *call) (any, error) {
	id := r.p.String("id")
	t, ok := s.visibleAppToken(r.caller.PartnerID, id)
	if !ok {
		return nil, errAppToken(CodeAppTokenIDNotFound, id)
	}
	return appTokenObject(t), nil
}

func (s *Server) appTokenList(r *call) (any, error) {
	var objs []any
	for _, t := range s.AppTokens() {
		if t.PartnerID == r.caller.PartnerID && t.Status != AppTokenDeleted {
			objs = append(objs, appTokenObject(t))
		}
	}
	return listResponse("KalturaAppTokenListResponse", objs, len(objs)), nil
}

func (s *Server) appTokenUpdate(r *call) (any, error) {
	id := r.p.String("id")
	if _, ok := s.visibleAppToken(r.caller.PartnerID, id); !ok {
		return nil, errAppToken(CodeAppTokenIDNotFound, id)
	}
	at := r.p.Sub("appToken")
	s.mu.Lock()
	t := s.appTokens[id]
	if v, ok, _ := at.Int("status"); ok {
		t.Status = int(v)
	}
	if at.Has("sessionPrivileges") {
		t.SessionPrivileges = at.String("sessionPrivileges")
	}
	if at.Has("description") {
		t.Description = at.String("description")
	}
	if v, ok, _ := at.Int("expiry"); ok {
		t.Expiry = v
	}
	t.UpdatedAt = r.caller.Now.Unix()
	cp := *t
	s.mu.Unlock()
	return appTokenObject(cp), nil
}

func (s *Server) appTokenDelete(r *call) (any, error) {
	id := r.p.String("id")
	if _, ok := s.visibleAppToken(r.caller.PartnerID, id); !ok {
		return nil, errAppToken(CodeAppTokenIDNotFound, id)
	}
	return nil, s.DeleteAppToken(id)
}

// appToken.startSession(id, tokenHash, userId, type, expiry, sessionPrivileges),
// errors in the server's order (kaltura.md §3).
func (s *Server) appTokenStartSession(r *call) (any, error) {
	id := r.p.String("id")
	now := r.caller.Now
	t, ok := s.visibleAppToken(r.caller.PartnerID, id)
	if !ok {
		return nil, errAppToken(CodeAppTokenIDNotFound, id)
	}
	if t.Status != AppTokenActive {
		return nil, errAppToken(CodeAppTokenNotActive, id)
	}
	want, _ := TokenHash(t.HashType, r.ks, t.Token)
	if r.p.String("tokenHash") != want {
		return nil, errInvalidAppTokenHash()
	}
	if t.Expiry != 0 && t.Expiry <= now.Unix() {
		return nil, errAppToken(CodeAppTokenExpired, id)
	}
	userID := t.SessionUserID
	if userID == "" {
		userID = r.p.String("userId")
	}
	typ := t.SessionType
	exp, ok, _ := r.p.Int("expiry")
	if !ok || exp <= 0 {
		exp = 86400
	}
	if t.SessionDuration > 0 && t.SessionDuration < exp {
		exp = t.SessionDuration
	}
	if t.Expiry != 0 && t.Expiry-now.Unix() < exp {
		exp = t.Expiry - now.Unix()
	}
	if exp <= 0 {
		return nil, errStartSession(r.caller.PartnerID)
	}
	privs := []string{"sessionid:" + id, "apptoken:" + id}
	for _, pr := range strings.Split(t.SessionPrivileges, ",") {
		if pr = strings.TrimSpace(pr); pr != "" {
			privs = append(privs, pr)
		}
	}
	for _, pr := range strings.Split(r.p.String("sessionPrivileges"), ",") {
		pr = strings.TrimSpace(pr)
		name, _, _ := strings.Cut(pr, ":")
		if pr == "" || slices.Contains(reservedPrivileges, strings.ToLower(name)) {
			continue
		}
		privs = append(privs, pr)
	}
	s.mu.Lock()
	p := s.partners[r.caller.PartnerID]
	s.mu.Unlock()
	if p == nil {
		return nil, errStartSession(r.caller.PartnerID)
	}
	expiry := expiryFrom(now, exp)
	ks := s.encodeKS(ksData{PartnerID: p.ID, UserID: userID, Type: typ, Expiry: expiry, Privileges: privs}, p.AdminSecret)
	return object("KalturaSessionInfo", "ks", ks, "sessionType", typ, "partnerId", p.ID,
		"userId", userID, "expiry", expiry, "privileges", strings.Join(privs, ",")), nil
}

func userObject(u User) map[string]any {
	o := object("KalturaUser", "id", u.ID, "partnerId", u.PartnerID, "isAdmin", u.IsAdmin,
		"status", 1, "createdAt", u.CreatedAt, "loginEnabled", u.LoginID != "")
	if u.LoginID != "" {
		o["email"] = u.LoginID
	}
	if u.FirstName != "" {
		o["firstName"] = u.FirstName
	}
	if u.LastName != "" {
		o["lastName"] = u.LastName
	}
	return o
}

func (s *Server) userList(r *call) (any, error) {
	s.mu.Lock()
	var users []User
	for _, u := range s.users[r.caller.PartnerID] {
		users = append(users, *u)
	}
	s.mu.Unlock()
	sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	f := r.p.Sub("filter")
	var objs []any
	for _, u := range users {
		if v := f.String("idEqual"); v != "" && u.ID != v {
			continue
		}
		objs = append(objs, userObject(u))
	}
	return listResponse("KalturaUserListResponse", objs, len(objs)), nil
}

// LoginCaller checks a KMC login (`<partnerId>/<loginId>` + password, as
// the FTP front does through user.loginByLoginId) and returns the Caller
// with that user's own role.
func (s *Server) LoginCaller(partnerID int64, loginID, password string) (kapi.Caller, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.partners[partnerID]
	if p == nil {
		return kapi.Caller{}, kapi.Errorf(CodeUserNotFound, "User was not found")
	}
	for _, u := range s.users[partnerID] {
		if u.LoginID != loginID {
			continue
		}
		if u.Password != password {
			return kapi.Caller{}, kapi.Errorf(CodeUserWrongPassword, "Wrong password supplied")
		}
		typ := kapi.SessionUser
		if u.IsAdmin {
			typ = kapi.SessionAdmin
		}
		return kapi.Caller{PartnerID: partnerID, UserID: u.ID, SessionType: typ, Role: u.Role,
			LegacyICal: p.LegacyICal, Now: s.Now()}, nil
	}
	return kapi.Caller{}, kapi.Errorf(CodeUserNotFound, "User was not found")
}

// user.loginByLoginId(loginId, password, partnerId, expiry, privileges) → ks.
func (s *Server) userLogin(r *call) (any, error) {
	pid, _, _ := r.p.Int("partnerId")
	if pid == 0 {
		pid = s.opts.PartnerID
	}
	c, err := s.LoginCaller(pid, r.p.String("loginId"), r.p.String("password"))
	if err != nil {
		return nil, err
	}
	exp, _, _ := r.p.Int("expiry")
	if exp <= 0 {
		exp = 86400
	}
	privs := []string{"*"}
	if c.Role != "" {
		privs = append(privs, "setrole:"+c.Role)
	}
	s.mu.Lock()
	secret := s.partners[pid].AdminSecret
	s.mu.Unlock()
	return s.encodeKS(ksData{PartnerID: pid, UserID: c.UserID, Type: c.SessionType,
		Expiry: expiryFrom(r.caller.Now, exp), Privileges: privs}, secret), nil
}

func (s *Server) flavorParamsList(r *call) (any, error) {
	src := object("KalturaFlavorParams", "id", 0, "partnerId", 0, "name", "Source", "systemName", "Source",
		"tags", "source,web", "format", "mp4", "isSystemDefault", 1)
	return listResponse("KalturaFlavorParamsListResponse", []any{src}, 1), nil
}
