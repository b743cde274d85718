package corq

// #include "glue.h"
// #include <stdlib.h>
import "C"

import (
	"errors"
	"strings"
	"unsafe"
)

// Code is one of corq's error codes (the CORQ_E* values of corq.h, all negative).
type Code int32

// The codes of corq.h; each has a sentinel Err* below.
const (
	CodeInvalid     Code = C.CORQ_EINVAL
	CodeNoMemory    Code = C.CORQ_ENOMEM
	CodeIO          Code = C.CORQ_EIO
	CodeNoSpace     Code = C.CORQ_ENOSPC
	CodeNotFound    Code = C.CORQ_ENOENT
	CodeExists      Code = C.CORQ_EEXIST
	CodeFull        Code = C.CORQ_EFULL
	CodeTimedOut    Code = C.CORQ_ETIMEDOUT
	CodeState       Code = C.CORQ_ESTATE
	CodeClosed      Code = C.CORQ_ECLOSED
	CodeBusy        Code = C.CORQ_EBUSY
	CodeCorrupt     Code = C.CORQ_ECORRUPT
	CodeFailed      Code = C.CORQ_EFAILED
	CodeTooBig      Code = C.CORQ_ETOOBIG
	CodeUnsupported Code = C.CORQ_EUNSUPPORTED
	CodeUnroutable  Code = C.CORQ_EUNROUTABLE
)

// String is corq_strerror's text: the code's name and meaning, e.g. "CORQ_EFULL: queue full".
func (c Code) String() string {
	return C.GoString(C.corq_strerror(C.int(c)))
}

// Name is the code's name alone, e.g. "CORQ_EFULL".
func (c Code) Name() string {
	text := c.String()
	if i := strings.IndexByte(text, ':'); i >= 0 {
		return text[:i]
	}
	return text
}

// Error is a failed corq call: the code, the C function (Op) and corq's detail message
// (corq_last_error, read on the OS thread of the failing call). Compare with errors.Is against the
// sentinels (errors.Is(err, corq.ErrNotFound)); errors.As gives the fields.
//
// When a wait failed because the context's deadline passed (a Request or a blocked Publish that
// timed out at the deadline), the error also wraps the context's error: errors.Is(err,
// context.DeadlineExceeded) holds as well as errors.Is(err, corq.ErrTimedOut) (or ErrFull).
type Error struct {
	Code   Code
	Op     string // the C function, e.g. "corq_publish"; empty for a sentinel
	Detail string // corq_last_error(), or the binding's own reason for refusing an argument
	cause  error  // the context's error, when the context's deadline ended the wait
}

// The sentinels, one per code: errors.Is(err, ErrX) holds for every *Error with that code.
var (
	ErrInvalid     = &Error{Code: CodeInvalid}
	ErrNoMemory    = &Error{Code: CodeNoMemory}
	ErrIO          = &Error{Code: CodeIO}
	ErrNoSpace     = &Error{Code: CodeNoSpace}
	ErrNotFound    = &Error{Code: CodeNotFound}
	ErrExists      = &Error{Code: CodeExists}
	ErrFull        = &Error{Code: CodeFull}
	ErrTimedOut    = &Error{Code: CodeTimedOut}
	ErrState       = &Error{Code: CodeState}
	ErrClosed      = &Error{Code: CodeClosed}
	ErrBusy        = &Error{Code: CodeBusy}
	ErrCorrupt     = &Error{Code: CodeCorrupt}
	ErrFailed      = &Error{Code: CodeFailed}
	ErrTooBig      = &Error{Code: CodeTooBig}
	ErrUnsupported = &Error{Code: CodeUnsupported}
	ErrUnroutable  = &Error{Code: CodeUnroutable}
)

// ErrWindowFull is what Consumer.Consume returns when its prefetch window is full: every slot holds
// an unsettled delivery, so waiting could not deliver anything (corq_consume returns 0 at once).
// Settle deliveries, then consume again. It is the binding's own error, not a corq code.
var ErrWindowFull = errors.New("corq: the consumer's prefetch window is full: settle deliveries before consuming")

func (e *Error) Error() string {
	if e.Detail == "" {
		if e.Op == "" {
			return e.Code.String()
		}
		return e.Op + ": " + e.Code.String()
	}
	return e.Detail + " (" + e.Code.Name() + ")"
}

// Is matches the sentinel of the same code (errors.Is finds a wrapped context error through
// Unwrap).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Op == "" && t.Detail == ""
}

// Unwrap is the context's error when the context's deadline ended the wait, else nil.
func (e *Error) Unwrap() error { return e.cause }

// failed turns a failed wrapper result into an *Error and frees its detail.
func failed(r C.gq_result, op string) *Error {
	detail := ""
	if r.detail != nil {
		detail = C.GoString(r.detail)
		C.free(unsafe.Pointer(r.detail))
	}
	return &Error{Code: Code(r.rc), Op: op, Detail: detail}
}

// check is nil for a successful result, else its *Error.
func check(r C.gq_result, op string) error {
	if r.rc >= 0 {
		return nil
	}
	return failed(r, op)
}

// invalid is an argument the binding refuses before calling C: EINVAL, worded as corq words it.
func invalid(op, detail string) *Error {
	return &Error{Code: CodeInvalid, Op: op, Detail: op + ": " + detail}
}

// closedErr is a call on a handle this binding closed already: ECLOSED without calling C.
func closedErr(op, what string) *Error {
	return &Error{Code: CodeClosed, Op: op, Detail: op + ": the " + what + " is closed"}
}
