// The AssemblyScript side of a2e's plugin ABI: JSON, the envelope protocol, typed host calls.
export * from "./json";
export * from "./pdk";
export * from "./host";

import { Empty, LogRequest, log, time_now } from "./host";
import { HostError } from "./pdk";

/** Writes `message` to the host log at `level`; answers the error, if any. */
export function logAt(level: string, message: string): HostError | null {
  const req = new LogRequest();
  req.level = level;
  req.message = message;
  return log(req).error;
}

/** Logs at info level; a failure (such as a missing `log` grant) is ignored, like the Rust PDK's info!. */
export function info(message: string): void { logAt("info", message); }

/** Logs at warn level; a failure is ignored. */
export function warn(message: string): void { logAt("warn", message); }

/** The host clock in Unix ms (grant `time`); check `.error` before `.value`. */
export { time_now as timeNow };
