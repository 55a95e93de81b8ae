/**
 * Every error regent throws or reports is a {@link RegentError} with a stable
 * `code`, so callers can branch on the code instead of on message text.
 * `test/errors.test.ts` counts the codes: adding one is a deliberate act.
 */

/** Stable error codes. */
export const ErrorCode = {
  /** Configuration or arguments are invalid; the message names the field. */
  InvalidConfig: "INVALID_CONFIG",
  /** A compare-and-set lost: the key's revision is not the one expected, or the key exists on create. */
  Conflict: "CONFLICT",
  /** The store could not be reached or did not answer (disconnect, timeout, no responders, stream-leader election). */
  StoreUnavailable: "STORE_UNAVAILABLE",
  /** The lease bucket does not exist (deleted under us) and could not be created. */
  BucketMissing: "BUCKET_MISSING",
  /** A stored record or message could not be decoded. */
  Malformed: "MALFORMED",
  /** The operation was aborted through its AbortSignal. */
  Aborted: "ABORTED",
  /** The election or node was already stopped. */
  Stopped: "STOPPED",
  /** The caller is not (or no longer) the leader. */
  NotLeader: "NOT_LEADER",
  /** A fenced resource rejected a stale token. */
  StaleToken: "STALE_TOKEN",
  /**
   * A recreated bucket's revisions restarted below the tokens already issued
   * (the store's floor), and it already holds records, so it cannot be raised
   * safely: tokens would go backwards. See docs/safety.md, "A lost bucket".
   */
  TokenFloor: "TOKEN_FLOOR",
  /** The deployment refused a request: NATS denied the permission, or the lease authority declined a move. */
  Refused: "REFUSED",
  /**
   * A check found things not as they should be, e.g. `regent compose --check`:
   * generated files out of date; or a simulated world broke an invariant or
   * did not reach a state in its simulated time.
   */
  CheckFailed: "CHECK_FAILED",
  /**
   * Something regent launches itself for tests, drills, demos or the
   * simulation (nats-server, a node, network namespaces, a simulation worker)
   * could not be set up as asked, failed to start, exited, or did not reach a
   * state in time; or a server, region or node asked of it is not part of it.
   */
  LaunchFailed: "LAUNCH_FAILED",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every regent error. */
export class RegentError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The base of an error class that carries nothing but its code, a message and
 * a cause: one constructor for all of them. Each such class stays a named,
 * documented `class … extends coded(…)`, so `instanceof` and `name` (the
 * subclass's, through `new.target`) work as for any other; the declared
 * return type keeps each a `RegentError` in the emitted declarations.
 */
function coded(code: ErrorCode): new (message: string, options?: { cause?: unknown }) => RegentError {
  return class extends RegentError {
    constructor(message: string, options?: { cause?: unknown }) {
      super(code, message, options);
    }
  };
}

/**
 * Invalid configuration or arguments; `field` names the offending option.
 * The message reads `<field>: <message>`, or `message` as is when
 * `named` says it names the field already.
 */
export class ConfigError extends RegentError {
  readonly field: string;
  constructor(field: string, message: string, options: { named?: boolean } = {}) {
    super(ErrorCode.InvalidConfig, options.named ? message : `${field}: ${message}`);
    this.field = field;
  }
}

/** A compare-and-set lost. `actual` is the current revision when the store reports it. */
export class ConflictError extends RegentError {
  readonly key: string;
  readonly expected: number;
  constructor(key: string, expected: number, options?: { cause?: unknown }) {
    super(ErrorCode.Conflict, `revision conflict on ${key} (expected ${expected})`, options);
    this.key = key;
    this.expected = expected;
  }
}

/** The store is unreachable or did not answer in time. Transient: retry. */
export class StoreUnavailableError extends coded(ErrorCode.StoreUnavailable) {}

/** The lease bucket is gone. */
export class BucketMissingError extends RegentError {
  constructor(bucket: string, options?: { cause?: unknown }) {
    super(ErrorCode.BucketMissing, `bucket ${bucket} does not exist`, options);
  }
}

/** Bytes that are not a regent record or message. */
export class MalformedError extends coded(ErrorCode.Malformed) {}

/** The operation's AbortSignal fired. */
export class AbortedError extends RegentError {
  constructor(message = "aborted", options?: { cause?: unknown }) {
    super(ErrorCode.Aborted, message, options);
  }
}

/** The election was stopped. */
export class StoppedError extends RegentError {
  constructor(message = "stopped") {
    super(ErrorCode.Stopped, message);
  }
}

/** The caller does not hold the lease. */
export class NotLeaderError extends RegentError {
  constructor(message = "not the leader") {
    super(ErrorCode.NotLeader, message);
  }
}

/** A fenced resource saw a token lower than one it already accepted. */
export class StaleTokenError extends RegentError {
  readonly token: number;
  readonly highest: number;
  constructor(token: number, highest: number) {
    super(ErrorCode.StaleToken, `stale fencing token ${token} (highest seen ${highest})`);
    this.token = token;
    this.highest = highest;
  }
}

/** A recreated bucket is below the store's token floor and cannot be raised safely. */
export class TokenFloorError extends RegentError {
  readonly bucket: string;
  readonly floor: number;
  readonly lastRevision: number;
  constructor(bucket: string, floor: number, lastRevision: number, why = "written to") {
    super(
      ErrorCode.TokenFloor,
      `bucket ${bucket} was recreated below the token floor ${floor} (its last revision is ${lastRevision}) and ${why}: ` +
        `fencing tokens would go backwards; delete the bucket again so that a store that knows the floor recreates it`,
    );
    this.bucket = bucket;
    this.floor = floor;
    this.lastRevision = lastRevision;
  }
}

/**
 * A request reached the deployment and was turned down: not retryable as is
 * (the CLI exits 5, like {@link NotLeaderError}).
 */
export class RefusedError extends coded(ErrorCode.Refused) {}

/**
 * A check found a difference (the CLI exits 1): the message lists what
 * differs and how to fix it, or which invariant of a simulated world broke.
 */
export class CheckFailedError extends coded(ErrorCode.CheckFailed) {}

/**
 * A launched deployment (nats-server, nodes, network namespaces, simulation
 * workers) failed or was asked for something it does not have; the CLI exits
 * 1. Tooling only: the library never throws it.
 */
export class LaunchFailedError extends coded(ErrorCode.LaunchFailed) {}

/** Throws {@link AbortedError} when the signal has fired. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new AbortedError("aborted", { cause: signal.reason });
}
