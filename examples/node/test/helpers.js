'use strict';
// Shared by the tests: the package from its source folder (koffi resolves from node_modules here,
// or from NODE_PATH when the build dir installed it), a scratch directory, small waits.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');

const corq = require('..');

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corq-node-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An in-memory engine closed when the test ends. */
function memoryEngine(t, options) {
  const engine = corq.open(null, options);
  t.after(() => engine.close());
  return engine;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Asserts that promise rejects with a CorqError of `code` whose detail matches `detail`. */
async function rejectsCorq(promise, code, detail) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof corq.CorqError, `not a CorqError: ${error}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.errno, corq.codes[code]);
    if (detail) assert.match(error.detail, detail);
    return true;
  });
}

/** Asserts that fn throws a CorqError of `code` whose detail matches `detail`. */
function throwsCorq(fn, code, detail) {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof corq.CorqError, `not a CorqError: ${error}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.errno, corq.codes[code]);
    if (detail) assert.match(error.detail, detail);
    return true;
  });
}

/**
 * Counts the turns of the event loop: a 5 ms interval (unref'd, cleared when the test ends). A
 * corq wait on the main thread would leave it at 0; a loaded machine may delay it, never stop it.
 */
function ticker(t) {
  const counter = { ticks: 0 };
  const timer = setInterval(() => counter.ticks++, 5);
  timer.unref();
  t.after(() => clearInterval(timer));
  counter.stop = () => clearInterval(timer);
  return counter;
}

module.exports = { corq, tempDir, memoryEngine, sleep, ticker, rejectsCorq, throwsCorq, assert };
