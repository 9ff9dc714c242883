package kalturasim

import (
	"strconv"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// Error codes the simulator returns (kaltura.md §6; messages as in the
// server's KalturaErrors/APIErrors).
const (
	CodeInvalidKS                  = "INVALID_KS"
	CodeMissingKS                  = "MISSING_KS"
	CodeServiceForbidden           = "SERVICE_FORBIDDEN"
	CodeServiceDoesNotExist        = "SERVICE_DOES_NOT_EXISTS"
	CodeActionDoesNotExist         = "ACTION_DOES_NOT_EXISTS"
	CodeMissingMandatoryParameter  = "MISSING_MANDATORY_PARAMETER"
	CodeInvalidWidgetID            = "INVALID_WIDGET_ID"
	CodeAppTokenIDNotFound         = "APP_TOKEN_ID_NOT_FOUND"
	CodeAppTokenNotActive          = "APP_TOKEN_NOT_ACTIVE"
	CodeInvalidAppTokenHash        = "INVALID_APP_TOKEN_HASH"
	CodeAppTokenExpired            = "APP_TOKEN_EXPIRED"
	CodeStartSessionError          = "START_SESSION_ERROR"
	CodeUploadTokenNotFound        = "UPLOAD_TOKEN_NOT_FOUND"
	CodeUploadTokenInvalidStatus   = "UPLOAD_TOKEN_INVALID_STATUS_FOR_UPLOAD"
	CodeUploadTokenInvalidForEntry = "UPLOAD_TOKEN_INVALID_STATUS_FOR_ADD_ENTRY"
	CodeUploadTokenCannotResume    = "UPLOAD_TOKEN_CANNOT_RESUME"
	CodeUploadTokenCannotMatch     = "UPLOAD_TOKEN_CANNOT_MATCH_EXPECTED_SIZE"
	CodeUploadTokenMissingFileSize = "UPLOAD_TOKEN_MISSING_FILE_SIZE"
	CodeUploadPassedMaxResumeTime  = "UPLOAD_PASSED_MAX_RESUME_TIME_ALLOWED"
	CodeUploadError                = "UPLOAD_ERROR"
	CodeEntryIDNotFound            = "ENTRY_ID_NOT_FOUND"
	CodeEntryAlreadyWithContent    = "ENTRY_ALREADY_WITH_CONTENT"
	CodeResourceTypeNotSupported   = "RESOURCE_TYPE_NOT_SUPPORTED"
	CodeActionBlocked              = "ACTION_BLOCKED"
	CodeLockTimedOut               = "LOCK_TIMED_OUT"
	CodeInternalServerError        = "INTERNAL_SERVERL_ERROR"
	CodeUserNotFound               = "USER_NOT_FOUND"
	CodeUserWrongPassword          = "USER_WRONG_PASSWORD"
	CodeInvalidEnumValue           = "INVALID_ENUM_VALUE"
	CodePropertyCannotBeNull       = "PROPERTY_VALIDATION_CANNOT_BE_NULL"
	CodePropertyNotUpdatable       = "PROPERTY_VALIDATION_NOT_UPDATABLE"
	CodeInvalidObjectID            = "INVALID_OBJECT_ID"
)

// KS validation reasons: the value of args.KSID (kaltura.md §6).
const (
	KSExpired        = "EXPIRED"
	KSLogout         = "LOGOUT"
	KSInvalidStr     = "INVALID_STR"
	KSInvalidPartner = "INVALID_PARTNER"
	KSInvalidType    = "INVALID_TYPE"
)

// errInvalidKS builds INVALID_KS. For a KS that validated but is expired or
// revoked, args.KSID carries the reason, and ERR_CODE/ERR_DESC read
// "-1"/"INVALID_STR" exactly as in kaltura.md §1's example
// (`Invalid KS "EXPIRED", Error "-1,INVALID_STR"`). For an unparseable KS,
// args.KSID is the raw KS string, as the real server does.
func errInvalidKS(ksid string) *kapi.Exception {
	return kapi.Errorf(CodeInvalidKS, `Invalid KS "`+ksid+`", Error "-1,INVALID_STR"`,
		"KSID", ksid, "ERR_CODE", "-1", "ERR_DESC", "INVALID_STR")
}

// errOwnership is the INVALID_KS an ownership violation returns
// (ERR_DESC=INVALID_TYPE, kaltura.md §5, §6).
func errOwnership() *kapi.Exception {
	return kapi.Errorf(CodeInvalidKS, `Invalid KS "INVALID_TYPE", Error "-4,INVALID_TYPE"`,
		"KSID", KSInvalidType, "ERR_CODE", "-4", "ERR_DESC", "INVALID_TYPE")
}

func errMissingKS() *kapi.Exception {
	return kapi.Errorf(CodeMissingKS, "Missing KS, session not established")
}

func errServiceForbidden(service, action string) *kapi.Exception {
	sa := service + "->" + action
	return kapi.Errorf(CodeServiceForbidden, "The access to service ["+sa+"] is forbidden", "SERVICE", sa)
}

func errServiceDoesNotExist(service string) *kapi.Exception {
	return kapi.Errorf(CodeServiceDoesNotExist, `Service "`+service+`" does not exists`, "SRV_NAME", service)
}

func errActionDoesNotExist(service, action string) *kapi.Exception {
	return kapi.Errorf(CodeActionDoesNotExist, `Action "`+action+`" does not exists for service "`+service+`"`,
		"ACTION_NAME", action, "SERVICE_NAME", service)
}

func errMissingParam(name string) *kapi.Exception {
	return kapi.Errorf(CodeMissingMandatoryParameter, `Missing parameter "`+name+`"`, "PARAM_NAME", name)
}

func errInvalidEnum(value, param, enum string) *kapi.Exception {
	return kapi.Errorf(CodeInvalidEnumValue,
		`Invalid enumeration value "`+value+`" for parameter "`+param+`", expecting enumeration type "`+enum+`"`,
		"ENUM_VAL", value, "PARAM_NAME", param, "ENUM_TYPE", enum)
}

func errAppToken(code, id string) *kapi.Exception {
	switch code {
	case CodeAppTokenNotActive:
		return kapi.Errorf(code, `Application token id "`+id+`" not active`, "ID", id)
	case CodeAppTokenExpired:
		return kapi.Errorf(code, `Application token id "`+id+`" expired`, "ID", id)
	default:
		return kapi.Errorf(CodeAppTokenIDNotFound, `Application token id "`+id+`" not found`, "ID", id)
	}
}

func errInvalidAppTokenHash() *kapi.Exception {
	return kapi.Errorf(CodeInvalidAppTokenHash, "Invalid application token hash")
}

func errStartSession(pid int64) *kapi.Exception {
	p := strconv.FormatInt(pid, 10)
	return kapi.Errorf(CodeStartSessionError, "Error while starting session for partner ["+p+"]", "PID", p)
}

func errUploadTokenNotFound() *kapi.Exception {
	return kapi.Errorf(CodeUploadTokenNotFound, "Upload token not found")
}

func errUploadInvalidStatus() *kapi.Exception {
	return kapi.Errorf(CodeUploadTokenInvalidStatus,
		"Upload token is in an invalid status for uploading a file, maybe the file was already uploaded")
}

func errUploadInvalidForEntry() *kapi.Exception {
	return kapi.Errorf(CodeUploadTokenInvalidForEntry,
		"Upload token is in an invalid status for adding entry, maybe the a file was not uploaded or the token was used")
}

func errCannotResume() *kapi.Exception {
	return kapi.Errorf(CodeUploadTokenCannotResume, "Cannot resume the upload, original file was not found")
}

func errCannotMatch() *kapi.Exception {
	return kapi.Errorf(CodeUploadTokenCannotMatch, "Failed to match expected file size")
}

func errMissingFileSize() *kapi.Exception {
	return kapi.Errorf(CodeUploadTokenMissingFileSize, "FileSize is mandatory when enabling autoFinalize")
}

func errPassedMaxResume(seconds int64) *kapi.Exception {
	v := strconv.FormatInt(seconds, 10)
	return kapi.Errorf(CodeUploadPassedMaxResumeTime, "Max resume time of "+v+" seconds reached, cannot resume upload",
		"MAX_RESUME_TIME", v)
}

func errUpload() *kapi.Exception {
	return kapi.Errorf(CodeUploadError, "Upload failed")
}

func errEntryNotFound(id string) *kapi.Exception {
	return kapi.Errorf(CodeEntryIDNotFound, `Entry id "`+id+`" not found`, "ENTRY_ID", id)
}

func errEntryAlreadyWithContent() *kapi.Exception {
	return kapi.Errorf(CodeEntryAlreadyWithContent, "Entry already associated with content")
}

func errResourceType(t string) *kapi.Exception {
	return kapi.Errorf(CodeResourceTypeNotSupported, `Resource type "`+t+`" not supported`, "RES_TYPE", t)
}

func errActionBlocked(service, action string) *kapi.Exception {
	return kapi.Errorf(CodeActionBlocked, `Action "`+action+`" in service "`+service+`" is blocked`,
		"ACTION_NAME", action, "SERVICE_NAME", service)
}

func errLockTimedOut() *kapi.Exception {
	return kapi.Errorf(CodeLockTimedOut, "Timed out while attempting to grab lock")
}

func errInternal() *kapi.Exception {
	return kapi.Errorf(CodeInternalServerError, "Internal server error occurred")
}

func errInvalidWidget(id string) *kapi.Exception {
	return kapi.Errorf(CodeInvalidWidgetID, "Unknown widget ["+id+"]", "WIDGET_ID", id)
}

func errCannotBeNull(prop string) *kapi.Exception {
	return kapi.Errorf(CodePropertyCannotBeNull, `The property "`+prop+`" cannot be null`, "PROP_NAME", prop)
}

func errNotUpdatable(prop string) *kapi.Exception {
	return kapi.Errorf(CodePropertyNotUpdatable, `The property "`+prop+`" cannot be updated`, "PROP_NAME", prop)
}
