// a2e's envelope protocol on top of @extism/as-pdk: run a plugin function (JSON request in,
// {"success","data","error"} out), call a2e host functions, and report aborts to the host.

import { Host, Memory } from "@extism/as-pdk";
import { alloc, error_set, length, output_set, store_u64, store_u8 } from "@extism/as-pdk/lib/env";
import { Decoder, JsonParser, JsonValue, JsonWriter } from "./json";

export const ABI_VERSION: u32 = 1;

/** An error with a code: a host error, or one a plugin function answers. */
export class HostError {
  constructor(public code: string, public message: string) {}
}

export function error(code: string, message: string): HostError {
  return new HostError(code, message);
}

/** What a plugin handler answers: JSON data (a writer holding one value), or an error. */
export class Answer {
  constructor(public data: JsonWriter | null, public error: HostError | null) {}
}

/** A success whose data the writer built. */
export function ok(w: JsonWriter): Answer { return new Answer(w, null); }
export function fail(code: string, message: string): Answer { return new Answer(null, new HostError(code, message)); }
export function failWith(e: HostError): Answer { return new Answer(null, e); }

/** The answer to a request that does not decode (serde's message in the Rust PDK). */
export function invalidInput(d: Decoder): Answer {
  return fail("INVALID_INPUT", "malformed request: " + (d.error !== null ? d.error! : "?"));
}

/** UTF-8 bytes of `s`; unpaired surrogates become U+FFFD (never WTF-8 on the wire). */
export function utf8(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s, false, String.UTF8.ErrorMode.REPLACE));
}

const NULL_JSON = "null";

/**
 * Runs a plugin export in the envelope protocol: reads the input (empty reads as `null`),
 * parses it (a parse failure is INVALID_INPUT), runs `f`, writes the envelope as output.
 * Always answers 0: errors travel in the envelope and the instance stays healthy.
 */
export function handle(f: (req: JsonValue) => Answer): i32 {
  const input = Host.input();
  const parser = new JsonParser(input.length == 0 ? utf8(NULL_JSON) : input);
  const req = parser.parse();
  const answer = req === null
    ? fail("INVALID_INPUT", "malformed request: " + parser.error!)
    : f(req);
  const w = new JsonWriter();
  w.beginObject();
  if (answer.error === null) {
    w.boolField("success", true).key("data");
    if (answer.data !== null) w.append(answer.data!); else w.nul();
    w.key("error").nul();
  } else {
    const e = answer.error!;
    w.boolField("success", false).key("data").nul();
    w.key("error").beginObject().strField("code", e.code).strField("message", e.message).endObject();
  }
  w.endObject();
  // Not Host.outputString: as-pdk 1.0.0 sizes that by UTF-16 length, which cuts non-ASCII output.
  output(w.toBytes());
  return 0;
}

/** A host function's decoded envelope: `data` when it succeeded, else `error`. */
export class Envelope {
  constructor(public data: JsonValue | null, public error: HostError | null) {}
}

function internal(message: string): Envelope {
  return new Envelope(null, new HostError("INTERNAL", message));
}

/**
 * Copies bytes into a new block of Extism memory, 8 bytes per kernel call (as-pdk's
 * Memory.allocateBytes makes one store_u8 call per byte).
 */
export function toExtism(bytes: Uint8Array): Memory {
  const n = <u64>bytes.length;
  const offset = alloc(n);
  const src = bytes.dataStart;
  let i: u64 = 0;
  for (; i + 8 <= n; i += 8) store_u64(offset + i, load<u64>(src + <usize>i));
  for (; i < n; i++) store_u8(offset + i, load<u8>(src + <usize>i));
  return new Memory(offset, n);
}

/** Copies a request into Extism memory; the caller frees it after the call. */
export function requestMemory(w: JsonWriter): Memory {
  return toExtism(w.toBytes());
}

/** Sets the call's output. */
export function output(bytes: Uint8Array): void {
  const mem = toExtism(bytes);
  output_set(mem.offset, mem.length);
}

/**
 * Reads, frees and decodes the envelope a host function answered at `offset`, with the rules of
 * the Rust PDK's `Envelope::into_result`: success needs data, failure needs an error body.
 */
export function takeEnvelope(offset: u64): Envelope {
  if (offset == 0) return internal("host answered no memory");
  const mem = new Memory(offset, length(offset));
  const bytes = mem.toUint8Array();
  mem.free();
  const parser = new JsonParser(bytes);
  const v = parser.parse();
  if (v === null) return internal("host answered with an unexpected shape: " + parser.error!);
  const d = new Decoder();
  if (!d.object(v, "an envelope")) return internal("host answered with an unexpected shape: " + d.error!);
  const success = d.bool(v, "success");
  if (d.error !== null) return internal("host answered with an unexpected shape: " + d.error!);
  if (success && d.has(v, "data")) return new Envelope(d.json(v, "data"), null);
  if (!success && d.has(v, "error")) {
    const e = d.child(v, "error", "struct ErrorBody");
    const code = d.str(e, "code");
    const message = d.str(e, "message");
    if (d.error === null) return new Envelope(null, new HostError(code, message));
  }
  return internal("malformed envelope");
}

/** The result of a typed host call: `value` when it succeeded, else `error`. */
export class Result<T> {
  constructor(public value: T | null, public error: HostError | null) {}
  get ok(): bool { return this.error === null; }
}

/**
 * Replaces AssemblyScript's `abort` (asconfig `"use": ["abort=assembly/a2e/pdk/a2eAbort"]`), so
 * the module imports nothing from `env`. The message goes to Extism's error slot, then the call
 * traps (abort never returns). Rust Extism attaches the message to the trap error; a2e fails the
 * call and discards the instance, so no half-updated runtime state is reused.
 */
export function a2eAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  const text = "abort: " + (message !== null ? message : "") + " at " +
    (fileName !== null ? fileName : "?") + ":" + line.toString() + ":" + column.toString();
  error_set(toExtism(utf8(text)).offset);
  unreachable();
}
