'use strict';
// The runnable examples (also shown in README.md): each checks its own outcome and exits 0.

const { test } = require('node:test');
const { execFile } = require('node:child_process');
const path = require('node:path');
const { assert } = require('./helpers');

for (const example of ['work_queue.js', 'pubsub.js']) {
  test(`examples/${example} runs and checks its outcome`, async () => {
    const file = path.join(__dirname, '..', 'examples', example);
    const { code, stdout, stderr } = await new Promise((resolve) => {
      execFile(process.execPath, [file], { timeout: 30000 }, (error, out, err) => {
        resolve({ code: error ? (error.code ?? 1) : 0, stdout: out, stderr: err });
      });
    });
    assert.equal(code, 0, stderr);
    assert.match(stdout, /: ok$/m);
  });
}
