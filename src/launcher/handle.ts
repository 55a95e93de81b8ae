/**
 * What a launched nats-server deployment looks like to its users
 * (nats-launcher.ts starts them; ports.ts reads their monitoring endpoints).
 */
import type { ChildProcess } from "node:child_process";

/** One running (or stopped) member of a launched deployment. Fields that change on restart are live getters. */
export interface NatsServerMember {
  /** `server_name`, unique within the deployment. */
  readonly name: string;
  /** Client URL, `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  readonly monitorPort: number;
  /** Route port; only for cluster members. */
  readonly clusterPort: number | undefined;
  /** Pid of the current process; `undefined` while it is not running. */
  readonly pid: number | undefined;
  /** Directory given to `jetstream { store_dir }`; survives {@link NatsServerHandle.restart}. */
  readonly storeDir: string;
  readonly logFile: string;
  readonly process: ChildProcess | undefined;
  /** True while the process has not exited. */
  readonly running: boolean;
}

/** A launched server or cluster. */
export interface NatsServerHandle {
  /** First client URL. */
  readonly url: string;
  /** Client URLs of every member. */
  readonly urls: string[];
  readonly servers: readonly NatsServerMember[];
  /** Cluster name; `undefined` for a single server. */
  readonly clusterName: string | undefined;
  /** SIGTERM every member, SIGKILL after a grace period, wait for exit, remove temporary directories. Idempotent. */
  stop(): Promise<void>;
  /** Sends `signal` (default SIGKILL) to a member; for terminating signals, resolves once it has exited. */
  kill(serverIndex?: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a member again with the same ports and store dir (stopping it first if it still runs). */
  restart(serverIndex?: number, opts?: { waitHealthy?: boolean; timeoutMs?: number }): Promise<void>;
}
