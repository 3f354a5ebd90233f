// A small strict JSON reader and writer for a2e plugins, with serde_json's rules where they
// matter to callers: UTF-8 input validated, no trailing characters or commas, no leading zeros,
// depth limit 128, integers kept apart from floats ("3.0" and "-0" are floats, as in serde_json;
// integers from i64's minimum to u64's maximum are integers), and the writer escapes exactly what
// serde_json escapes.

export const enum JsonKind { Null, Bool, Int, Float, Str, Arr, Obj }

/** One parsed JSON value. Objects keep their keys in order, duplicates included. */
export class JsonValue {
  kind: JsonKind = JsonKind.Null;
  b: bool = false;
  i: i64 = 0;
  /** An Int above i64's maximum: `i` holds it as u64 bits. */
  big: bool = false;
  f: f64 = 0;
  s: string = "";
  items: JsonValue[] = [];
  keys: string[] = [];
  vals: JsonValue[] = [];

  static nul(): JsonValue { return new JsonValue(); }
}

const MAX_DEPTH = 128;

/**
 * Joins strings in linear time. (Array<string>#join falls back to repeated concatenation,
 * quadratic, when the module is built with shrinkLevel >= 1.)
 */
export function concat(parts: string[]): string {
  let total: usize = 0;
  for (let i = 0; i < parts.length; i++) total += <usize>parts[i].length << 1;
  const buf = new ArrayBuffer(<i32>total);
  let at = changetype<usize>(buf);
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    const n = <usize>part.length << 1;
    memory.copy(at, changetype<usize>(part), n);
    at += n;
  }
  return String.UTF16.decode(buf);
}

/** Parses UTF-8 bytes. `parse` answers null on error and leaves the reason in `error`. */
export class JsonParser {
  error: string | null = null;
  private buf: Uint8Array; // kept so the bytes stay alive while `p` points into them
  private p: usize;
  private end: usize;
  private depth: i32 = 0;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.p = buf.dataStart;
    this.end = buf.dataStart + <usize>buf.length;
  }

  parse(): JsonValue | null {
    this.ws();
    const v = this.value();
    if (this.error !== null) return null;
    this.ws();
    if (this.p != this.end) return this.fail("trailing characters");
    return v;
  }

  private fail(msg: string): JsonValue | null {
    if (this.error === null) {
      this.error = msg + " at byte " + (this.p - this.buf.dataStart).toString();
    }
    return null;
  }

  private peek(): i32 { return this.p < this.end ? <i32>load<u8>(this.p) : -1; }

  private ws(): void {
    while (this.p < this.end) {
      const c = load<u8>(this.p);
      if (c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d) this.p++;
      else break;
    }
  }

  private value(): JsonValue | null {
    const c = this.peek();
    if (c == 0x7b) return this.object();
    if (c == 0x5b) return this.array();
    if (c == 0x22) {
      const s = this.string();
      if (s === null) return null;
      const v = new JsonValue();
      v.kind = JsonKind.Str;
      v.s = s;
      return v;
    }
    if (c == 0x74) return this.literal("true", JsonKind.Bool, true);
    if (c == 0x66) return this.literal("false", JsonKind.Bool, false);
    if (c == 0x6e) return this.literal("null", JsonKind.Null, false);
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (c < 0) return this.fail("EOF while parsing a value");
    return this.fail("expected value");
  }

  private literal(word: string, kind: JsonKind, b: bool): JsonValue | null {
    const n = <usize>word.length;
    if (this.end - this.p < n) return this.fail("expected value");
    for (let i: usize = 0; i < n; i++) {
      if (<i32>load<u8>(this.p + i) != word.charCodeAt(<i32>i)) return this.fail("expected value");
    }
    this.p += n;
    const v = new JsonValue();
    v.kind = kind;
    v.b = b;
    return v;
  }

  private digits(): i32 {
    let n = 0;
    while (this.p < this.end) {
      const c = load<u8>(this.p);
      if (c < 0x30 || c > 0x39) break;
      this.p++;
      n++;
    }
    return n;
  }

  private number(): JsonValue | null {
    const start = this.p;
    let negative = false;
    if (this.peek() == 0x2d) { negative = true; this.p++; }
    const first = this.peek();
    if (first == 0x30) {
      this.p++;
      const next = this.peek();
      if (next >= 0x30 && next <= 0x39) return this.fail("invalid number");
    } else if (first >= 0x31 && first <= 0x39) {
      this.digits();
    } else {
      return this.fail("invalid number");
    }
    const intEnd = this.p;
    let isFloat = false;
    if (this.peek() == 0x2e) {
      this.p++;
      if (this.digits() == 0) return this.fail("invalid number");
      isFloat = true;
    }
    const e = this.peek();
    if (e == 0x65 || e == 0x45) {
      this.p++;
      const sign = this.peek();
      if (sign == 0x2b || sign == 0x2d) this.p++;
      if (this.digits() == 0) return this.fail("invalid number");
      isFloat = true;
    }
    const v = new JsonValue();
    if (!isFloat) {
      // Magnitude as u64, watching for overflow.
      let mag: u64 = 0;
      let overflow = false;
      for (let q = start + (negative ? 1 : 0); q < intEnd; q++) {
        const d = <u64>(load<u8>(q) - 0x30);
        if (mag > (U64.MAX_VALUE - d) / 10) { overflow = true; break; }
        mag = mag * 10 + d;
      }
      if (!overflow) {
        if (!negative) {
          v.kind = JsonKind.Int;
          v.i = <i64>mag;
          v.big = mag > <u64>I64.MAX_VALUE;
          v.f = <f64>mag;
          return v;
        }
        // serde_json treats -0 as a float, and so do we.
        if (negative && mag != 0 && mag <= (<u64>1 << 63)) {
          v.kind = JsonKind.Int;
          v.i = -(<i64>mag);
          v.f = <f64>v.i;
          return v;
        }
      }
    }
    const text = String.UTF8.decodeUnsafe(start, this.p - start);
    const f = parseFloat(text);
    if (!isFinite(f)) return this.fail("number out of range");
    v.kind = JsonKind.Float;
    v.f = f;
    return v;
  }

  // Checks one UTF-8 sequence starting at p (its first byte >= 0x80); answers its length or 0.
  private utf8(): usize {
    const avail = this.end - this.p;
    const b0 = <u32>load<u8>(this.p);
    let n: usize = 0;
    let lo: u32 = 0x80, hi: u32 = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) n = 2;
    else if (b0 == 0xe0) { n = 3; lo = 0xa0; }
    else if ((b0 >= 0xe1 && b0 <= 0xec) || b0 == 0xee || b0 == 0xef) n = 3;
    else if (b0 == 0xed) { n = 3; hi = 0x9f; }
    else if (b0 == 0xf0) { n = 4; lo = 0x90; }
    else if (b0 >= 0xf1 && b0 <= 0xf3) n = 4;
    else if (b0 == 0xf4) { n = 4; hi = 0x8f; }
    else return 0;
    if (avail < n) return 0;
    const b1 = <u32>load<u8>(this.p + 1);
    if (b1 < lo || b1 > hi) return 0;
    for (let i: usize = 2; i < n; i++) {
      const b = <u32>load<u8>(this.p + i);
      if (b < 0x80 || b > 0xbf) return 0;
    }
    return n;
  }

  private hex4(): i32 {
    if (this.end - this.p < 4) return -1;
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const c = <i32>load<u8>(this.p++);
      let d: i32;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
      else return -1;
      v = (v << 4) | d;
    }
    return v;
  }

  // Parses a string; p is at the opening quote.
  private string(): string | null {
    this.p++;
    let parts: string[] | null = null;
    let seg = this.p;
    while (true) {
      if (this.p >= this.end) { this.fail("EOF while parsing a string"); return null; }
      const c = load<u8>(this.p);
      if (c == 0x22 || c == 0x5c) {
        const chunk = this.p > seg ? String.UTF8.decodeUnsafe(seg, this.p - seg) : "";
        if (c == 0x22) {
          this.p++;
          if (parts === null) return chunk;
          parts.push(chunk);
          return concat(parts);
        }
        if (parts === null) parts = [];
        parts.push(chunk);
        this.p++;
        const esc = this.peek();
        this.p++;
        if (esc == 0x22) parts.push("\"");
        else if (esc == 0x5c) parts.push("\\");
        else if (esc == 0x2f) parts.push("/");
        else if (esc == 0x62) parts.push("\b");
        else if (esc == 0x66) parts.push("\f");
        else if (esc == 0x6e) parts.push("\n");
        else if (esc == 0x72) parts.push("\r");
        else if (esc == 0x74) parts.push("\t");
        else if (esc == 0x75) {
          const u = this.hex4();
          if (u < 0) { this.fail("invalid escape"); return null; }
          if (u >= 0xdc00 && u <= 0xdfff) { this.fail("lone leading surrogate in hex escape"); return null; }
          if (u >= 0xd800 && u <= 0xdbff) {
            if (this.end - this.p < 2 || load<u8>(this.p) != 0x5c || load<u8>(this.p + 1) != 0x75) {
              this.fail("unexpected end of hex escape");
              return null;
            }
            this.p += 2;
            const l = this.hex4();
            if (l < 0xdc00 || l > 0xdfff) { this.fail("lone leading surrogate in hex escape"); return null; }
            parts.push(String.fromCharCode(u, l));
          } else {
            parts.push(String.fromCharCode(u));
          }
        } else {
          this.fail("invalid escape");
          return null;
        }
        seg = this.p;
      } else if (c < 0x20) {
        this.fail("control character (\\u0000-\\u001F) found while parsing a string");
        return null;
      } else if (c >= 0x80) {
        const n = this.utf8();
        if (n == 0) { this.fail("invalid unicode code point"); return null; }
        this.p += n;
      } else {
        this.p++;
      }
    }
    return null; // unreachable
  }

  private array(): JsonValue | null {
    if (++this.depth > MAX_DEPTH) return this.fail("recursion limit exceeded");
    this.p++;
    const v = new JsonValue();
    v.kind = JsonKind.Arr;
    this.ws();
    if (this.peek() == 0x5d) { this.p++; this.depth--; return v; }
    while (true) {
      this.ws();
      const item = this.value();
      if (item === null) return null;
      v.items.push(item);
      this.ws();
      const c = this.peek();
      if (c == 0x2c) { this.p++; this.ws(); if (this.peek() == 0x5d) return this.fail("trailing comma"); continue; }
      if (c == 0x5d) { this.p++; break; }
      return this.fail("expected `,` or `]`");
    }
    this.depth--;
    return v;
  }

  private object(): JsonValue | null {
    if (++this.depth > MAX_DEPTH) return this.fail("recursion limit exceeded");
    this.p++;
    const v = new JsonValue();
    v.kind = JsonKind.Obj;
    this.ws();
    if (this.peek() == 0x7d) { this.p++; this.depth--; return v; }
    while (true) {
      this.ws();
      if (this.peek() != 0x22) return this.fail(this.peek() == 0x7d ? "trailing comma" : "key must be a string");
      const key = this.string();
      if (key === null) return null;
      this.ws();
      if (this.peek() != 0x3a) return this.fail("expected `:`");
      this.p++;
      this.ws();
      const val = this.value();
      if (val === null) return null;
      v.keys.push(key);
      v.vals.push(val);
      this.ws();
      const c = this.peek();
      if (c == 0x2c) { this.p++; continue; }
      if (c == 0x7d) { this.p++; break; }
      return this.fail("expected `,` or `}`");
    }
    this.depth--;
    return v;
  }
}

const HEX = "0123456789abcdef";

/**
 * Builds JSON text. Commas are placed automatically:
 * `w.beginObject().key("a").int(1).key("b").str("x").endObject()` or the `*Field` shorthands.
 */
export class JsonWriter {
  private parts: string[] = [];
  private first: bool[] = [];
  private afterKey: bool = false;

  private sep(): void {
    if (this.afterKey) { this.afterKey = false; return; }
    const n = this.first.length;
    if (n == 0) return;
    if (this.first[n - 1]) this.first[n - 1] = false;
    else this.parts.push(",");
  }

  private quoted(s: string): void {
    const parts = this.parts;
    parts.push("\"");
    let run = 0;
    const n = s.length;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
      if (i > run) parts.push(s.substring(run, i));
      run = i + 1;
      if (c == 0x22) parts.push("\\\"");
      else if (c == 0x5c) parts.push("\\\\");
      else if (c == 0x0a) parts.push("\\n");
      else if (c == 0x0d) parts.push("\\r");
      else if (c == 0x09) parts.push("\\t");
      else if (c == 0x08) parts.push("\\b");
      else if (c == 0x0c) parts.push("\\f");
      else parts.push("\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 15));
    }
    if (run == 0) parts.push(s);
    else if (run < n) parts.push(s.substring(run));
    parts.push("\"");
  }

  beginObject(): JsonWriter { this.sep(); this.parts.push("{"); this.first.push(true); return this; }
  endObject(): JsonWriter { this.first.pop(); this.parts.push("}"); return this; }
  beginArray(): JsonWriter { this.sep(); this.parts.push("["); this.first.push(true); return this; }
  endArray(): JsonWriter { this.first.pop(); this.parts.push("]"); return this; }
  key(k: string): JsonWriter { this.sep(); this.quoted(k); this.parts.push(":"); this.afterKey = true; return this; }
  str(s: string): JsonWriter { this.sep(); this.quoted(s); return this; }
  optStr(s: string | null): JsonWriter { if (s === null) return this.nul(); return this.str(s); }
  int(i: i64): JsonWriter { this.sep(); this.parts.push(i.toString()); return this; }
  uint(u: u64): JsonWriter { this.sep(); this.parts.push(u.toString()); return this; }
  float(f: f64): JsonWriter {
    this.sep();
    // serde_json writes non-finite floats as null.
    this.parts.push(isFinite(f) ? f.toString() : "null");
    return this;
  }
  bool(b: bool): JsonWriter { this.sep(); this.parts.push(b ? "true" : "false"); return this; }
  nul(): JsonWriter { this.sep(); this.parts.push("null"); return this; }
  /** Inserts JSON text that is already valid (a value kept from a parse, say). */
  raw(json: string): JsonWriter { this.sep(); this.parts.push(json); return this; }
  /** Inserts the value another writer built, without copying its text. */
  append(other: JsonWriter): JsonWriter {
    this.sep();
    const src = other.parts;
    for (let i = 0; i < src.length; i++) this.parts.push(src[i]);
    return this;
  }
  value(v: JsonValue): JsonWriter {
    switch (v.kind) {
      case JsonKind.Null: return this.nul();
      case JsonKind.Bool: return this.bool(v.b);
      case JsonKind.Int: return v.big ? this.uint(<u64>v.i) : this.int(v.i);
      case JsonKind.Float: return this.float(v.f);
      case JsonKind.Str: return this.str(v.s);
      case JsonKind.Arr: {
        this.beginArray();
        for (let i = 0; i < v.items.length; i++) this.value(v.items[i]);
        return this.endArray();
      }
      default: {
        this.beginObject();
        for (let i = 0; i < v.keys.length; i++) this.key(v.keys[i]).value(v.vals[i]);
        return this.endObject();
      }
    }
  }

  strField(k: string, s: string): JsonWriter { return this.key(k).str(s); }
  intField(k: string, i: i64): JsonWriter { return this.key(k).int(i); }
  uintField(k: string, u: u64): JsonWriter { return this.key(k).uint(u); }
  boolField(k: string, b: bool): JsonWriter { return this.key(k).bool(b); }

  toString(): string { return concat(this.parts); }

  /** The JSON as UTF-8 (unpaired surrogates become U+FFFD), encoded straight from the parts. */
  toBytes(): Uint8Array {
    const parts = this.parts;
    let total = 0;
    for (let i = 0; i < parts.length; i++) total += String.UTF8.byteLength(parts[i]);
    const buf = new ArrayBuffer(total);
    let at = changetype<usize>(buf);
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      at += String.UTF8.encodeUnsafe(changetype<usize>(part), part.length, at, false, String.UTF8.ErrorMode.REPLACE);
    }
    return Uint8Array.wrap(buf);
  }
}

/** serde's expectations for typed fields, so errors read like the Rust PDK's. */
function kindName(k: JsonKind): string {
  switch (k) {
    case JsonKind.Null: return "null";
    case JsonKind.Bool: return "boolean";
    case JsonKind.Int: return "integer";
    case JsonKind.Float: return "floating point";
    case JsonKind.Str: return "string";
    case JsonKind.Arr: return "sequence";
    default: return "map";
  }
}

/**
 * Reads typed fields out of parsed objects the way serde's derive does: a missing required
 * field, a wrong type, an out-of-range integer or a duplicate field is an error; unknown fields
 * are ignored. The first error is kept in `error`; later reads answer defaults.
 */
export class Decoder {
  error: string | null = null;

  fail(msg: string): void { if (this.error === null) this.error = msg; }

  /** Checks `v` is an object; `what` names the expected type in the message. */
  object(v: JsonValue, what: string): bool {
    if (v.kind == JsonKind.Obj) return true;
    this.fail("invalid type: " + kindName(v.kind) + ", expected " + what);
    return false;
  }

  /** The value of `key` in object `v`, or null when absent. */
  field(v: JsonValue, key: string): JsonValue | null {
    if (v.kind != JsonKind.Obj) return null;
    let found: JsonValue | null = null;
    for (let i = 0; i < v.keys.length; i++) {
      if (v.keys[i] == key) {
        if (found !== null) { this.fail("duplicate field `" + key + "`"); return null; }
        found = v.vals[i];
      }
    }
    return found;
  }

  /** True when `key` is present and not null (an Option that is Some). */
  has(v: JsonValue, key: string): bool {
    const f = this.field(v, key);
    return f !== null && f.kind != JsonKind.Null;
  }

  /** True when `key` is present, null included (for `#[serde(default)]` fields). */
  present(v: JsonValue, key: string): bool { return this.field(v, key) !== null; }

  private required(v: JsonValue, key: string): JsonValue | null {
    const f = this.field(v, key);
    if (f === null) this.fail("missing field `" + key + "`");
    return f;
  }

  private typed(v: JsonValue, key: string, kind: JsonKind, what: string): JsonValue | null {
    const f = this.required(v, key);
    if (f === null) return null;
    if (f.kind != kind) {
      this.fail("invalid type: " + kindName(f.kind) + ", expected " + what + " (field `" + key + "`)");
      return null;
    }
    return f;
  }

  str(v: JsonValue, key: string): string {
    const f = this.typed(v, key, JsonKind.Str, "a string");
    return f === null ? "" : f.s;
  }

  /** An `Option<String>`: absent or null is null. */
  optStr(v: JsonValue, key: string): string | null {
    if (!this.has(v, key)) return null;
    return this.str(v, key);
  }

  bool(v: JsonValue, key: string): bool {
    const f = this.typed(v, key, JsonKind.Bool, "a boolean");
    return f === null ? false : f.b;
  }

  private outOfRange(f: JsonValue, what: string): void {
    const n = f.big ? (<u64>f.i).toString() : f.i.toString();
    this.fail("invalid value: integer `" + n + "`, expected " + what);
  }

  i64(v: JsonValue, key: string): i64 {
    const f = this.typed(v, key, JsonKind.Int, "i64");
    if (f === null) return 0;
    if (f.big) { this.outOfRange(f, "i64"); return 0; }
    return f.i;
  }

  u64(v: JsonValue, key: string): u64 {
    const f = this.typed(v, key, JsonKind.Int, "u64");
    if (f === null) return 0;
    if (f.i < 0 && !f.big) { this.outOfRange(f, "u64"); return 0; }
    return <u64>f.i;
  }

  u32(v: JsonValue, key: string): u32 {
    const f = this.typed(v, key, JsonKind.Int, "u32");
    if (f === null) return 0;
    if (f.big || f.i < 0 || f.i > <i64>U32.MAX_VALUE) { this.outOfRange(f, "u32"); return 0; }
    return <u32>f.i;
  }

  f64(v: JsonValue, key: string): f64 {
    const f = this.required(v, key);
    if (f === null) return 0;
    if (f.kind != JsonKind.Int && f.kind != JsonKind.Float) {
      this.fail("invalid type: " + kindName(f.kind) + ", expected f64 (field `" + key + "`)");
      return 0;
    }
    return f.f;
  }

  /** Any JSON (a `serde_json::Value` field); absent reads as null. */
  json(v: JsonValue, key: string): JsonValue {
    const f = this.field(v, key);
    return f === null ? JsonValue.nul() : f;
  }

  /** A list item that must be a string. */
  itemStr(v: JsonValue): string {
    if (v.kind == JsonKind.Str) return v.s;
    this.fail("invalid type: " + kindName(v.kind) + ", expected a string");
    return "";
  }

  /** A required array field. */
  array(v: JsonValue, key: string): JsonValue[] {
    const f = this.typed(v, key, JsonKind.Arr, "a sequence");
    return f === null ? [] : f.items;
  }

  /** A required object field (checked to be an object). */
  child(v: JsonValue, key: string, what: string): JsonValue {
    const f = this.required(v, key);
    if (f === null) return JsonValue.nul();
    this.object(f, what);
    return f;
  }
}
