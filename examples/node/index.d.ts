// Type declarations of the corq Node.js binding (index.js). README.md is the manual; corq.h the
// contract of every call.

/// <reference types="node" />

/** Payload bytes: a Buffer, another ArrayBuffer view, an ArrayBuffer, or a string (UTF-8). */
export type Bytes = Buffer | ArrayBufferView | ArrayBuffer | SharedArrayBuffer | string;

/** Headers to send: an object, a Map or [key, value] pairs; keys are strings without NUL. */
export type HeadersInput =
  | Record<string, Bytes>
  | Map<string, Bytes>
  | ReadonlyArray<readonly [string, Bytes]>;

/** Binding arguments of a headers exchange: a null value matches the header's presence alone. */
export type BindingArguments =
  | Record<string, Bytes | null>
  | Map<string, Bytes | null>
  | ReadonlyArray<readonly [string, Bytes | null]>;

/** Received headers: copies, key -> bytes (an object with a null prototype). */
export type Headers = Record<string, Buffer>;

/** corq options with corq's own keys (README "Options"): booleans, numbers and strings. */
export type Options = Record<string, string | number | bigint | boolean | undefined>;

/** Milliseconds; -1 or Infinity: no limit. */
export type Timeout = number;

export interface PublishOptions {
  headers?: HeadersInput;
  /** 1-255 bytes; deduplicated within the queue's dedup_window_ms */
  dedupId?: string;
  delayMs?: number | bigint;
  ttlMs?: number | bigint;
  priority?: number;
  /** do not wait for durability (durable queues) */
  nowait?: boolean;
  /** overflow=block: the longest wait for room (default 30000) */
  timeoutMs?: Timeout;
}

export interface ExchangePublishOptions extends PublishOptions {
  /** CORQ_EUNROUTABLE instead of a silent drop when no queue takes the message */
  mandatory?: boolean;
}

export interface WaitOptions {
  timeoutMs?: Timeout;
}

export interface ConsumeOptions {
  /** default -1: until a delivery comes */
  timeoutMs?: Timeout;
  signal?: AbortSignal;
  /** default true: take what is ready on the main thread before waiting on a worker thread */
  tryFirst?: boolean;
}

export interface Published {
  messageId: bigint;
  /** how many queues took it */
  routed: number;
}

export interface Appended {
  partition: number;
  offset: bigint;
}

export interface AppendedBatch {
  partition: number;
  firstOffset: bigint;
}

export interface Reply {
  data: Buffer;
  headers: Headers;
}

export interface BatchItem {
  data: Bytes;
  headers?: HeadersInput;
  dedupId?: string;
}

export interface StreamAppendOptions {
  /** picks the partition (Kafka's partitioner); none: round robin; an empty key is a key */
  key?: Bytes | null;
  headers?: HeadersInput;
  dedupId?: string;
  nowait?: boolean;
  /** the wait for durability (default 30000) */
  timeoutMs?: Timeout;
}

export interface StreamSendOptions {
  key?: Bytes | null;
  /** names the whole batch */
  dedupId?: string;
  nowait?: boolean;
  timeoutMs?: Timeout;
}

export interface TxnPublishOptions {
  headers?: HeadersInput;
  dedupId?: string;
  mandatory?: boolean;
  delayMs?: number | bigint;
  ttlMs?: number | bigint;
  priority?: number;
}

export interface QueueStats {
  ready: number;
  inFlight: number;
  delayed: number;
  consumers: number;
  bytesReady: number;
  published: number;
  delivered: number;
  acked: number;
  nacked: number;
  released: number;
  redelivered: number;
  deadLettered: number;
  expired: number;
  dropped: number;
  deduplicated: number;
  oldestReadyAgeMs: number;
  purged: number;
  redriven: number;
}

export interface ExchangeStats {
  bindings: number;
  published: number;
  routed: number;
  unroutable: number;
  alternated: number;
}

export interface StreamStats {
  partitions: number;
  records: number;
  bytes: number;
  appended: number;
  deleted: number;
  deduplicated: number;
  groups: number;
}

export interface GroupStats {
  members: number;
  lag: number;
  inFlight: number;
  delivered: number;
  acked: number;
  nacked: number;
  deadLettered: number;
  skipped: number;
}

/** The CORQ_E* values of corq.h. */
export declare const codes: Readonly<{
  CORQ_OK: 0;
  CORQ_EINVAL: -1;
  CORQ_ENOMEM: -2;
  CORQ_EIO: -3;
  CORQ_ENOSPC: -4;
  CORQ_ENOENT: -5;
  CORQ_EEXIST: -6;
  CORQ_EFULL: -7;
  CORQ_ETIMEDOUT: -8;
  CORQ_ESTATE: -9;
  CORQ_ECLOSED: -10;
  CORQ_EBUSY: -11;
  CORQ_ECORRUPT: -12;
  CORQ_EFAILED: -13;
  CORQ_ETOOBIG: -14;
  CORQ_EUNSUPPORTED: -15;
  CORQ_EUNROUTABLE: -16;
}>;

export type CorqErrorCode = Exclude<keyof typeof codes, 'CORQ_OK'>;

/** A failed corq call. */
export declare class CorqError extends Error {
  constructor(errno: number, detail?: string);
  readonly name: 'CorqError';
  /** the code's name, e.g. 'CORQ_EFULL' */
  readonly code: CorqErrorCode;
  /** the code's value, e.g. -7 */
  readonly errno: number;
  /** corq_last_error() of the failing call (or the binding's words for a call on a worker thread) */
  readonly detail: string;
}

/** Node's AbortError shape: name 'AbortError', code 'ABORT_ERR', the signal's reason as cause. */
export declare class AbortError extends Error {
  constructor(message?: string, options?: { cause?: unknown });
  readonly name: 'AbortError';
  readonly code: 'ABORT_ERR';
}

/** Opens an engine: in memory without dir, else durable in dir (created if missing). */
export declare function open(dir?: string | null, options?: Options): Engine;

/** The linked library's version, e.g. "0.1.0". */
export declare function version(): string;

/** The path (or name) libcorq was loaded from. */
export declare const libraryPath: string;

export declare class Engine {
  private constructor();
  readonly dir: string | null;
  readonly closed: boolean;
  readonly engineId: string;
  close(): void;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;

  declareQueue(name: string, options?: Options): void;
  declareTempQueue(options?: Options): string;
  deleteQueue(name: string): void;
  purgeQueue(name: string): number;

  publish(queue: string, data: Bytes, options?: PublishOptions): Promise<bigint>;
  publishSync(queue: string, data: Bytes, options?: PublishOptions): bigint;
  waitDurable(messageId: bigint | number, options?: WaitOptions): Promise<void>;
  sync(options?: WaitOptions): Promise<void>;
  producer(queue: string): Producer;
  consumer(queue: string, options?: { prefetch?: number }): Consumer;

  declareExchange(name: string, type: 'direct' | 'fanout' | 'topic' | 'headers' | string, options?: Options): void;
  deleteExchange(name: string): void;
  bind(exchange: string, queue: string, key?: string, args?: BindingArguments): void;
  unbind(exchange: string, queue: string, key?: string, args?: BindingArguments): void;
  bindExchange(source: string, destination: string, key?: string, args?: BindingArguments): void;
  unbindExchange(source: string, destination: string, key?: string, args?: BindingArguments): void;
  publishToExchange(exchange: string, routingKey: string, data: Bytes, options?: ExchangePublishOptions): Promise<Published>;
  publishToExchangeSync(exchange: string, routingKey: string, data: Bytes, options?: ExchangePublishOptions): Published;
  exchangeStats(name: string): ExchangeStats;

  request(exchange: string, routingKey: string, data: Bytes, options?: { headers?: HeadersInput; timeoutMs?: Timeout }): Promise<Reply>;

  declareStream(name: string, options?: Options): void;
  deleteStream(name: string): void;
  append(stream: string, data: Bytes, options?: StreamAppendOptions): Promise<Appended>;
  appendSync(stream: string, data: Bytes, options?: StreamAppendOptions): Appended;
  streamProducer(stream: string): StreamProducer;
  streamReader(stream: string, options?: { partition?: number; start?: string }): StreamReader;
  streamStats(name: string): StreamStats;

  groupConsumer(stream: string, group: string, options?: Options): Consumer;
  groupSeek(stream: string, group: string, start: string, partition?: number): void;
  groupDelete(stream: string, group: string): void;
  groupStats(stream: string, group: string): GroupStats;

  transaction(): Transaction;

  stats(queue: string): QueueStats;
  statsJson(): string;
  redrive(fromQueue: string, options?: { toQueue?: string | null; maxMessages?: number | bigint }): number;
}

export declare class Producer {
  private constructor();
  readonly queue: string;
  readonly closed: boolean;
  /** resolves with the first message id; the others follow it */
  send(messages: ReadonlyArray<Bytes | BatchItem>, options?: PublishOptions): Promise<bigint>;
  sendSync(messages: ReadonlyArray<Bytes | BatchItem>, options?: PublishOptions): bigint;
  flush(options?: WaitOptions): Promise<void>;
  close(): void;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}

export declare class Delivery {
  private constructor();
  readonly consumer: Consumer;
  readonly tag: bigint;
  /** for a group member's delivery: the record's offset */
  readonly messageId: bigint;
  readonly data: Buffer;
  readonly headers: Headers;
  readonly deliveryCount: number;
  readonly publishedAtMs: number;
  ack(): Promise<void>;
  /** delayMs -1 (default): the queue's backoff */
  nack(delayMs?: number | bigint): Promise<void>;
  release(): Promise<void>;
  reject(reason?: string | null): Promise<void>;
  extend(leaseMs: number | bigint): Promise<void>;
  respond(data: Bytes, options?: { headers?: HeadersInput }): Promise<void>;
}

export declare class Consumer implements AsyncIterable<Delivery> {
  private constructor();
  /** the queue (a group member's: the stream) */
  readonly queue: string;
  /** the group of a group member, else null */
  readonly group: string | null;
  readonly prefetch: number;
  readonly closed: boolean;
  /** null on timeout, with a full window, or after interrupt() */
  consume(options?: ConsumeOptions): Promise<Delivery | null>;
  consumeMany(max: number, options?: ConsumeOptions): Promise<Delivery[]>;
  ackUpto(tag: bigint | number): Promise<void>;
  interrupt(): void;
  wakeup(): void;
  close(): void;
  deliveries(options?: { signal?: AbortSignal; batch?: number }): AsyncGenerator<Delivery, void, undefined>;
  [Symbol.asyncIterator](): AsyncGenerator<Delivery, void, undefined>;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}

export declare class StreamProducer {
  private constructor();
  readonly stream: string;
  readonly closed: boolean;
  send(messages: ReadonlyArray<Bytes | BatchItem>, options?: StreamSendOptions): Promise<AppendedBatch>;
  sendSync(messages: ReadonlyArray<Bytes | BatchItem>, options?: StreamSendOptions): AppendedBatch;
  close(): void;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}

export declare class StreamRecord {
  private constructor();
  readonly partition: number;
  readonly offset: bigint;
  readonly timestampMs: number;
  /** null: appended without a key */
  readonly key: Buffer | null;
  readonly data: Buffer;
  readonly headers: Headers;
}

export declare class StreamReader implements AsyncIterable<StreamRecord> {
  private constructor();
  readonly stream: string;
  readonly partition: number;
  readonly closed: boolean;
  readonly skipped: number;
  read(options?: { max?: number; timeoutMs?: Timeout; signal?: AbortSignal }): Promise<StreamRecord[]>;
  wakeup(): void;
  close(): void;
  records(options?: { signal?: AbortSignal }): AsyncGenerator<StreamRecord, void, undefined>;
  [Symbol.asyncIterator](): AsyncGenerator<StreamRecord, void, undefined>;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}

export declare class Transaction {
  private constructor();
  readonly closed: boolean;
  publish(exchange: string, routingKey: string, data: Bytes, options?: TxnPublishOptions): void;
  append(stream: string, data: Bytes, options?: { key?: Bytes | null; headers?: HeadersInput; dedupId?: string }): void;
  ack(delivery: Delivery): Promise<void>;
  /** timeoutMs default 30000 */
  commit(options?: WaitOptions): Promise<void>;
  abort(): void;
  close(): void;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}
