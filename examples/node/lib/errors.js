'use strict';
// lib/errors.js — corq's error codes as JS errors.
//
// A failed corq call becomes a CorqError, shaped like Node's own system errors (err.code 'ENOENT',
// err.errno -2): .code is the code's name ('CORQ_EFULL'), .errno its value (-7), .detail the
// detail message corq_last_error() gave on the thread of the failing call, and .message
// "CORQ_EFULL: queue full: <detail>" (the corq_strerror text, then the detail). Bad JS arguments
// that never reach C are Node's own TypeError / RangeError with Node's codes
// (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE); a value corq judges (a queue name, an option value)
// goes to corq, whose CORQ_EINVAL carries its own detail.

const { c } = require('./native');

/** The CORQ_E* values of corq.h (part of the ABI: they never change meaning). */
const codes = Object.freeze({
  CORQ_OK: 0,
  CORQ_EINVAL: -1,
  CORQ_ENOMEM: -2,
  CORQ_EIO: -3,
  CORQ_ENOSPC: -4,
  CORQ_ENOENT: -5,
  CORQ_EEXIST: -6,
  CORQ_EFULL: -7,
  CORQ_ETIMEDOUT: -8,
  CORQ_ESTATE: -9,
  CORQ_ECLOSED: -10,
  CORQ_EBUSY: -11,
  CORQ_ECORRUPT: -12,
  CORQ_EFAILED: -13,
  CORQ_ETOOBIG: -14,
  CORQ_EUNSUPPORTED: -15,
  CORQ_EUNROUTABLE: -16,
});
const names = new Map(Object.entries(codes).map(([name, value]) => [value, name]));

class CorqError extends Error {
  /**
   * @param {number} errno a negative CORQ_E* value
   * @param {string} detail corq_last_error() of the failing call (or the binding's own words)
   */
  constructor(errno, detail) {
    const description = c.corq_strerror(errno); // "CORQ_EFULL: queue full"
    super(detail ? `${description}: ${detail}` : description);
    this.name = 'CorqError';
    this.code = names.get(errno) ?? description.split(':', 1)[0];
    this.errno = errno;
    this.detail = detail ?? '';
  }
}

/** The error of a failed call made on this (the main) thread, with corq_last_error's detail. */
function lastError(rc) {
  return new CorqError(rc, c.corq_last_error());
}

/** Throws lastError(rc) for a negative rc; returns rc. Run right after the C call. */
function check(rc) {
  if (rc < 0) throw lastError(rc);
  return rc;
}

function closedError(what) {
  return new CorqError(codes.CORQ_ECLOSED, `the ${what} is closed`);
}

/** Node's AbortError: name 'AbortError', code 'ABORT_ERR', the signal's reason as its cause. */
class AbortError extends Error {
  constructor(message = 'The operation was aborted', options = undefined) {
    super(message, options);
    this.name = 'AbortError';
    this.code = 'ABORT_ERR';
  }
}

function abortError(signal) {
  return new AbortError(undefined, { cause: signal?.reason });
}

function invalidType(what, expected, value) {
  const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
  const error = new TypeError(`The "${what}" argument must be ${expected}. Received ${got}`);
  error.code = 'ERR_INVALID_ARG_TYPE';
  return error;
}

function outOfRange(what, range, value) {
  const error = new RangeError(
    `The value of "${what}" is out of range. It must be ${range}. Received ${String(value)}`,
  );
  error.code = 'ERR_OUT_OF_RANGE';
  return error;
}

module.exports = {
  codes,
  CorqError,
  AbortError,
  lastError,
  check,
  closedError,
  abortError,
  invalidType,
  outOfRange,
};
