// The a2e template plugin in AssemblyScript: the same four functions as plugins/template.
// Each takes a JSON request and answers in the envelope protocol ({"success","data","error"}).

import {
  ABI_VERSION, Answer, Decoder, Empty, JsonValue, JsonWriter,
  fail, failWith, handle, info, invalidInput, ok, timeNow,
} from "./a2e";
import { DESCRIPTION, NAME, VERSION } from "./meta";

// Rust's str::trim: Unicode White_Space (AssemblyScript's String#trim also strips U+FEFF and
// keeps U+0085, so it is not used). All of these are single UTF-16 code units.
function isRustSpace(c: i32): bool {
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

function trim(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isRustSpace(s.charCodeAt(start))) start++;
  while (end > start && isRustSpace(s.charCodeAt(end - 1))) end--;
  return s.substring(start, end);
}

/** Greets someone by name, stamped with the host clock. Request {name}. */
function greetWith(req: JsonValue): Answer {
  const d = new Decoder();
  d.object(req, "struct GreetRequest");
  const raw = d.str(req, "name");
  if (d.error !== null) return invalidInput(d);
  const name = trim(raw);
  if (name.length == 0) return fail("EMPTY_NAME", "name must not be empty");
  info("greeting " + name);
  const now = timeNow(new Empty());
  if (now.error !== null) return failWith(now.error!);
  return ok(new JsonWriter().beginObject()
    .strField("message", "Hello, " + name + "!")
    .intField("at_unix_ms", now.value!.unix_ms)
    .endObject());
}

/** Repeats text `count` times (default 2, at most 100, output at most 64 KiB). Request {text, count?}. */
function repeatWith(req: JsonValue): Answer {
  const d = new Decoder();
  d.object(req, "struct RepeatRequest");
  const text = d.str(req, "text");
  const count: u32 = d.has(req, "count") ? d.u32(req, "count") : 2;
  if (d.error !== null) return invalidInput(d);
  if (count > 100) return fail("COUNT_TOO_LARGE", "count must be at most 100");
  // Bytes of UTF-8, as Rust's str::len counts them.
  if (<u64>String.UTF8.byteLength(text) * <u64>count > 64 * 1024) {
    return fail("OUTPUT_TOO_LARGE", "the repeated text would exceed 64 KiB");
  }
  return ok(new JsonWriter().beginObject()
    .strField("text", text.repeat(count))
    .uintField("count", count)
    .endObject());
}

/** Validates a small form, failing with custom error codes. Request {email, age}. */
function validateWith(req: JsonValue): Answer {
  const d = new Decoder();
  d.object(req, "struct ValidateRequest");
  const email = d.str(req, "email");
  const age = d.i64(req, "age");
  if (d.error !== null) return invalidInput(d);
  if (!email.includes("@")) return fail("INVALID_EMAIL", "email must contain '@'");
  if (age < 0 || age > 150) return fail("INVALID_AGE", "age must be between 0 and 150");
  return ok(new JsonWriter().beginObject().boolField("valid", true).endObject());
}

const FUNCTIONS: string[] = ["greet", "repeat", "validate", "get_info"];

/** Describes the plugin. Any JSON request. */
function getInfoWith(_req: JsonValue): Answer {
  const w = new JsonWriter().beginObject()
    .strField("name", NAME)
    .strField("version", VERSION)
    .strField("description", DESCRIPTION)
    .uintField("abi_version", ABI_VERSION)
    .key("functions").beginArray();
  for (let i = 0; i < FUNCTIONS.length; i++) w.str(FUNCTIONS[i]);
  return ok(w.endArray().endObject());
}

export function greet(): i32 { return handle(greetWith); }
export function repeat(): i32 { return handle(repeatWith); }
export function validate(): i32 { return handle(validateWith); }
export function get_info(): i32 { return handle(getInfoWith); }
