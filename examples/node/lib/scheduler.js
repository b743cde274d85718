'use strict';
// lib/scheduler.js — where corq's waiting calls run, and who may touch a handle when.
//
// A waiting call (a consume, a stream read, a request, a commit, a durability wait) runs on a
// libuv threadpool thread through koffi's .async(): the event loop never blocks on it. Two things
// follow, and this file is both:
//
// Gate — the threadpool is small (UV_THREADPOOL_SIZE, 4 by default) and shared with fs, dns and
//   crypto; each waiting corq call holds one of its threads for as long as it waits. The gate lets
//   at most `slots` = pool - 1 of corq's calls hold a thread (one is always left for the rest of
//   Node), and one-shot calls (request, commit, durability waits: they cannot be cut short) at most
//   slots - 1 of them, so a consume can always run — a request whose responder is a consumer of
//   this process would otherwise wait for a thread that the request itself holds. A consume or a
//   stream read waits in slices: alone, a long slice (SLICE_MS); when other calls queue for a
//   thread, a holder with a long slice is interrupted at once (corq_consumer_interrupt /
//   corq_stream_reader_wakeup) and the holders go on in short slices (ROTATE_SLICE_MS), taking
//   turns, so every waiting consumer gets a thread within a short while.
//
// Lane — one per consumer (and per stream reader, producer): corq's one-thread-at-a-time rule.
//   While a call on a worker thread uses the handle (`busy`), nothing else may call into it; the
//   binding queues what comes meanwhile (an ack, a nack, a transaction's hold) as a task and
//   interrupts the waiting call (interruptFn), which returns at once; the tasks run on the main
//   thread right after it returned, and the wait then goes on for the time it has left.

const ROTATE_SLICE_MS = 50;
const SLICE_MS = 10000;

/** The threadpool size libuv uses: UV_THREADPOOL_SIZE (1-1024), else 4. */
function poolSize() {
  const value = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10);
  return Number.isInteger(value) && value > 0 ? Math.min(value, 1024) : 4;
}

/** Runs a koffi function on a threadpool thread; resolves with its return value. */
function callAsync(fn, args) {
  return new Promise((resolve, reject) => {
    fn.async(...args, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

class Gate {
  constructor() {
    this.slots = 0; // set at first use: UV_THREADPOOL_SIZE may be set after require('corq')
    this.oneshotMax = 0;
    this.used = 0;
    this.oneshotUsed = 0;
    this.queue = []; // tickets waiting for a thread, FIFO
    this.holders = new Set(); // sliced waits holding a thread
  }

  init() {
    if (this.slots !== 0) return;
    this.slots = Math.max(1, poolSize() - 1);
    this.oneshotMax = Math.max(1, this.slots - 1);
  }

  /** True when calls are queued for a thread: holders then wait in short slices. */
  get contended() {
    return this.queue.length > 0;
  }

  canTake(ticket) {
    return this.used < this.slots && (!ticket.oneshot || this.oneshotUsed < this.oneshotMax);
  }

  take(ticket) {
    this.used++;
    if (ticket.oneshot) this.oneshotUsed++;
    else this.holders.add(ticket);
    ticket.held = true;
  }

  /**
   * Resolves with the ticket once it holds a thread. ticket: { oneshot, preempt?(), long } — a
   * sliced wait sets `long` when it starts a long slice and gives `preempt` to cut it short.
   */
  enter(ticket) {
    this.init();
    ticket.held = false;
    if (this.queue.length === 0 && this.canTake(ticket)) {
      this.take(ticket);
      return Promise.resolve(ticket);
    }
    const entered = new Promise((resolve) => {
      ticket.grant = () => resolve(ticket);
    });
    this.queue.push(ticket);
    this.pump(); // a one-shot over its share may wait at the head while this one can go
    if (!ticket.held) this.preemptLongSlices();
    return entered;
  }

  /** Gives the thread back (or leaves the queue, for a ticket not granted yet). */
  leave(ticket) {
    if (ticket.held) {
      ticket.held = false;
      this.used--;
      if (ticket.oneshot) this.oneshotUsed--;
      else this.holders.delete(ticket);
    } else {
      const index = this.queue.indexOf(ticket);
      if (index >= 0) this.queue.splice(index, 1);
    }
    this.pump();
  }

  pump() {
    for (let i = 0; i < this.queue.length && this.used < this.slots; ) {
      const ticket = this.queue[i];
      if (this.canTake(ticket)) {
        this.queue.splice(i, 1);
        this.take(ticket);
        ticket.grant();
      } else {
        i++; // a one-shot over its share: sliced waits behind it may pass
      }
    }
  }

  /** Someone queues: every holder in a long slice is cut short (it comes back in short ones). */
  preemptLongSlices() {
    for (const holder of this.holders) {
      if (holder.long && holder.preempt) {
        holder.long = false;
        holder.preempt();
      }
    }
  }

  /** The length of the next slice of a sliced wait with `remaining` ms left (-1: no limit). */
  sliceMs(remaining) {
    const slice = this.contended ? ROTATE_SLICE_MS : SLICE_MS;
    return remaining < 0 ? slice : Math.min(remaining, slice);
  }
}

const gate = new Gate();

let laneIds = 0;

class Lane {
  constructor() {
    this.id = ++laneIds; // holds are taken in id order (no deadlock between two commits)
    this.busy = null; // null, 'wait' (an interruptible call), 'call' or 'hold'
    this.interruptFn = null;
    this.tasks = [];
    this.idleWaiters = [];
  }

  get idle() {
    return this.busy === null && this.tasks.length === 0;
  }

  /** Resolves when no call uses the handle and no task is queued. */
  whenIdle() {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Marks a call on a worker thread; interruptFn(reason) makes it return at once. */
  begin(kind, interruptFn = null) {
    this.busy = kind;
    this.interruptFn = interruptFn;
  }

  /** The worker's call returned: runs the queued tasks, then wakes whoever waits for idle. */
  end() {
    this.busy = null;
    this.interruptFn = null;
    this.drain();
  }

  drain() {
    while (this.busy === null && this.tasks.length > 0) this.tasks.shift()();
    if (this.idle && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  interrupt(reason) {
    if (this.busy === 'wait' && this.interruptFn !== null) this.interruptFn(reason);
  }

  /**
   * Runs fn on the handle: now (synchronously, before run returns) when the lane is idle, else
   * right after the call in flight returns (interrupting it if it waits). Resolves with fn's value.
   */
  run(fn) {
    if (this.idle) {
      try {
        return Promise.resolve(fn());
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return new Promise((resolve, reject) => {
      this.tasks.push(() => {
        try {
          resolve(fn());
        } catch (error) {
          reject(error);
        }
      });
      this.interrupt('task');
    });
  }

  /** Takes the handle for a call made elsewhere (a commit); resolves with the release function. */
  hold() {
    return new Promise((resolve) => {
      const start = () => {
        this.busy = 'hold';
        resolve(() => {
          this.busy = null;
          this.drain();
        });
      };
      if (this.idle) start();
      else {
        this.tasks.push(start);
        this.interrupt('hold');
      }
    });
  }
}

module.exports = { gate, Lane, callAsync, poolSize, SLICE_MS, ROTATE_SLICE_MS };
