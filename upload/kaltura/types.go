package kaltura

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Num is an integer that decodes from a JSON number (also written as a
// float, e.g. 1234.0: Kaltura declares file sizes as float) or from a quoted
// string (string enums such as entry status "2").
type Num int64

// UnmarshalJSON implements json.Unmarshaler.
func (n *Num) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	s := string(b)
	if len(b) >= 2 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*n = 0
			return nil
		}
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = Num(v)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("kaltura: %q is not a number", s)
	}
	*n = Num(f)
	return nil
}

// Str is a string that also decodes from a JSON number or boolean (the
// server writes some ids as numbers, e.g. userId 0 of a widget session).
type Str string

// UnmarshalJSON implements json.Unmarshaler.
func (s *Str) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = Str(v)
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	*s = Str(b)
	return nil
}

// SessionInfo is the reply of appToken.startSession (KalturaSessionInfo) and
// of session.startWidgetSession (KalturaStartWidgetSessionResponse).
type SessionInfo struct {
	KS          string `json:"ks"`
	PartnerID   Num    `json:"partnerId"`
	UserID      Str    `json:"userId"`
	SessionType Num    `json:"sessionType"`
	Expiry      Num    `json:"expiry"` // absolute Unix seconds; 0 for widget sessions
}

// Upload token status values (kaltura.md §4).
const (
	TokenPending    = 0
	TokenPartial    = 1
	TokenFullUpload = 2
	TokenClosed     = 3
	TokenTimedOut   = 4
	TokenDeleted    = 5
)

// UploadToken is a KalturaUploadToken.
type UploadToken struct {
	ID               string `json:"id"`
	Status           Num    `json:"status"`
	FileName         string `json:"fileName"`
	FileSize         Num    `json:"fileSize"`
	UploadedFileSize Num    `json:"uploadedFileSize"`
	UploadURL        string `json:"uploadUrl"`
	CreatedAt        Num    `json:"createdAt"`
	UpdatedAt        Num    `json:"updatedAt"`
	// AttachedObjectType/ID name the entry a CLOSED token was added to. The
	// server's KalturaUploadToken declares them (S api_v3/lib/types/
	// KalturaUploadToken.php); a server that leaves them empty is tolerated.
	AttachedObjectType string `json:"attachedObjectType"`
	AttachedObjectID   string `json:"attachedObjectId"`
}

// Entry status values (kaltura.md §5).
const (
	EntryImportError  = -2
	EntryConvertError = -1
	EntryImport       = 0
	EntryPreconvert   = 1
	EntryReady        = 2
	EntryDeleted      = 3
	EntryPending      = 4
	EntryModerate     = 5
	EntryBlocked      = 6
	EntryNoContent    = 7
)

// MediaEntry is the part of a KalturaMediaEntry / KalturaBaseEntry the box
// reads.
type MediaEntry struct {
	ID                   string `json:"id"`
	PartnerID            Num    `json:"partnerId"`
	Name                 string `json:"name"`
	Description          string `json:"description"`
	Tags                 string `json:"tags"`
	AdminTags            string `json:"adminTags"`
	ReferenceID          string `json:"referenceId"`
	TemplateEntryID      string `json:"templateEntryId"`
	CategoriesIDs        string `json:"categoriesIds"`
	Categories           string `json:"categories"`
	UserID               Str    `json:"userId"`
	EntitledUsersEdit    string `json:"entitledUsersEdit"`
	EntitledUsersPublish string `json:"entitledUsersPublish"`
	Status               Num    `json:"status"`
	MediaType            Num    `json:"mediaType"`
	CreatedAt            Num    `json:"createdAt"`
}
