'use strict';
// corq — the Node.js binding of corq's C API (engine/include/corq/corq.h is the manual; README.md
// in this folder maps it to JS). koffi loads libcorq.so; lib/ has the layers:
//   lib/native.js     finding libcorq.so, the C declarations, the struct layouts
//   lib/errors.js     CorqError (code, errno, detail), AbortError, Node-style argument errors
//   lib/wire.js       JS values to C structs and back (copies out of corq's memory)
//   lib/scheduler.js  which libuv thread waits (the gate) and the one-thread-per-handle lanes
//   lib/engine.js     the public classes

const native = require('./lib/native');
const errors = require('./lib/errors');
const engine = require('./lib/engine');

/** The linked library's version string, e.g. "0.1.0". */
function version() {
  return native.c.corq_version_string();
}

module.exports = {
  open: engine.open,
  version,
  libraryPath: native.libraryPath,
  codes: errors.codes,
  CorqError: errors.CorqError,
  AbortError: errors.AbortError,
  Engine: engine.Engine,
  Producer: engine.Producer,
  Consumer: engine.Consumer,
  Delivery: engine.Delivery,
  StreamProducer: engine.StreamProducer,
  StreamReader: engine.StreamReader,
  StreamRecord: engine.StreamRecord,
  Transaction: engine.Transaction,
};
