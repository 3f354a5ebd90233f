// Generates assembly/a2e/host.ts, typed AssemblyScript wrappers of a2e's host functions, from the
// ABI table: node gen/gen-host.mjs [table.json] [out.ts]
// Defaults: a2e-abi.json and assembly/a2e/host.ts in this project; paths given on the command
// line are relative to the current directory.
//
// Table: { abi_version, namespace, functions: [{name, grant, request, response, errors, summary}],
//          types: { TypeName: [{name, type, optional?, default?, skip_if_none?}] } }
// Field types: string | bool | i64 | u32 | u64 | f64 | json | TypeName | [string] | [TypeName].
// A function's request is a TypeName; its response is a TypeName or [TypeName].
// `optional` is Rust's Option<T> (absent or null reads as none, none is written as null);
// `skip_if_none` (with `optional`) leaves a none out instead of writing null.
// `default` is #[serde(default)]: absent reads as the default. It is a value of the field's type
// (a number, a string, [] for a list, null for json), or `true` for the type's own default (0, "",
// [], null, or for a struct its fields' defaults). On a bool field it is the value itself.
// Anything else is refused with a message naming the type and field.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
if (args.some((a) => a.startsWith("-")) || args.length > 2) {
  console.error("usage: node gen/gen-host.mjs [table.json] [out.ts]");
  process.exit(2);
}
const tablePath = args[0] !== undefined ? resolve(args[0]) : join(root, "a2e-abi.json");
const outPath = args[1] !== undefined ? resolve(args[1]) : join(root, "assembly/a2e/host.ts");

const FIELD_TYPES = "string, bool, i64, u32, u64, f64, json, TypeName, [string] and [TypeName]";
const PRIM = new Map([["bool", "bool"], ["i64", "i64"], ["u32", "u32"], ["u64", "u64"], ["f64", "f64"]]);
const INT_RANGE = { i64: [-(2n ** 63n), 2n ** 63n - 1n], u32: [0n, 2n ** 32n - 1n], u64: [0n, 2n ** 64n - 1n] };
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

const errors = [];
const problem = (msg) => errors.push(msg);
function stop() {
  if (!errors.length) return;
  console.error(`gen-host: ${relative(process.cwd(), tablePath) || tablePath} cannot be generated:`);
  for (const e of errors) console.error(`  ${e}`);
  process.exit(1);
}

let table;
try {
  table = JSON.parse(readFileSync(tablePath, "utf8"));
} catch (e) {
  console.error(`gen-host: cannot read the ABI table ${tablePath}: ${e.message}`);
  process.exit(1);
}
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
if (!isObj(table)) problem("the table must be a JSON object");
else {
  if (!Number.isInteger(table.abi_version)) problem("`abi_version` must be an integer");
  if (typeof table.namespace !== "string" || !table.namespace) problem("`namespace` must be a non-empty string");
  if (!Array.isArray(table.functions)) problem("`functions` must be an array");
  if (!isObj(table.types)) problem("`types` must be an object of TypeName: [fields]");
}
stop();
const types = table.types;
const hasType = (n) => Object.hasOwn(types, n);

// Names the generated module may not define: what host.ts imports or defines besides the table's
// names, what assembly/a2e/index.ts re-exports next to it, and AssemblyScript globals.
const reserved = new Set(["decodeList", "string", "json", ...PRIM.keys(), "i8", "i16", "i32", "u8", "u16", "f32",
  "isize", "usize", "void", "Array", "String", "Map", "Set", "Error", "Object", "Math", "Date", "ArrayBuffer",
  "Uint8Array", "Function", "Infinity", "NaN", "abort", "trace", "seed"]);
for (const file of ["json.ts", "pdk.ts", "index.ts"]) {
  const path = join(root, "assembly/a2e", file);
  if (!existsSync(path)) continue;
  const src = readFileSync(path, "utf8");
  for (const m of src.matchAll(/^export\s+(?:const\s+enum|declare\s+function|function|class|const|let|enum)\s+(\w+)/gm)) reserved.add(m[1]);
  for (const m of src.matchAll(/^export\s*\{([^}]*)\}/gm)) {
    for (const part of m[1].split(",")) reserved.add(part.trim().split(/\s+as\s+/).pop());
  }
}

// A parsed field type: kind is "prim" | "string" | "json" | "struct" and list says [T].
function parseType(t, where, { allowList = true, structOnly = false } = {}) {
  if (typeof t !== "string") { problem(`${where}: the type must be a string, not ${JSON.stringify(t)}`); return null; }
  const m = /^\[(.*)\]$/.exec(t);
  const el = m ? m[1] : t;
  let kind = null;
  if (hasType(el)) kind = "struct";
  else if (el === "string") kind = "string";
  else if (!m && el === "json") kind = "json";
  else if (!m && PRIM.has(el)) kind = "prim";
  if (kind === null) {
    const hint = m ? " (lists hold strings or TypeNames)" : "";
    problem(`${where}: unknown type \`${t}\`${hint}; field types are ${FIELD_TYPES}, where TypeName is a key of \`types\``);
    return null;
  }
  if (m && !allowList) { problem(`${where}: \`${t}\` must be a TypeName, not a list`); return null; }
  if (structOnly && kind !== "struct") { problem(`${where}: \`${t}\` must be a TypeName or [TypeName]`); return null; }
  return { kind, el, list: !!m, t };
}

// The AssemblyScript initializer of a field, from its default (see the header).
function initExpr(f, ty, where) {
  const d = f.default;
  if (f.optional) {
    if (d !== undefined && d !== true && d !== null) problem(`${where}: an optional field's default can only be none (true or null), not ${JSON.stringify(d)}`);
    if (ty.kind === "prim" && !ty.list) return ty.el === "bool" ? "false" : "0";
    return "null";
  }
  const zero = ty.list ? "[]" : ty.kind === "string" ? '""' : ty.kind === "json" ? "JsonValue.nul()"
    : ty.kind === "struct" ? `new ${ty.el}()` : ty.el === "bool" ? "false" : "0";
  if (d === undefined) return zero;
  const bad = (what) => { problem(`${where}: default ${JSON.stringify(d)} is not ${what}`); return zero; };
  if (ty.list) return d === true || (Array.isArray(d) && d.length === 0) ? "[]" : bad("true or []");
  if (ty.kind === "prim" && ty.el === "bool") return typeof d === "boolean" ? String(d) : bad("a boolean");
  if (d === true) return zero;
  if (ty.kind === "prim") {
    if (typeof d !== "number" || !Number.isFinite(d)) return bad(`a ${ty.el}`);
    if (ty.el === "f64") return String(d);
    const [lo, hi] = INT_RANGE[ty.el];
    if (!Number.isSafeInteger(d) || BigInt(d) < lo || BigInt(d) > hi) return bad(`a ${ty.el} (integers up to 2^53)`);
    return String(d);
  }
  if (ty.kind === "string") return typeof d === "string" ? JSON.stringify(d) : bad("a string or true");
  if (ty.kind === "json") return d === null ? zero : bad("null or true");
  return bad(`true (struct ${ty.el}'s own defaults)`);
}

function asType(f, ty) {
  let base;
  if (ty.list) base = `Array<${ty.el}>`;
  else if (ty.kind === "prim") return PRIM.get(ty.el); // an optional primitive carries a has_ flag
  else if (ty.kind === "json") base = "JsonValue";
  else base = ty.el;
  return f.optional ? `${base} | null` : base;
}

// Reads field f of object `v` into `o`, one statement.
function decodeField(f, ty) {
  const k = JSON.stringify(f.name);
  let read;
  if (ty.list) {
    const item = ty.kind === "string" ? "d.itemStr(a[i])" : `${ty.el}.decode(a[i], d)`;
    read = `decodeList<${ty.el}>(d.array(v, ${k}), d, (a: JsonValue[], i: i32, d: Decoder): ${ty.el} => ${item})`;
  } else if (ty.kind === "prim") read = `d.${ty.el}(v, ${k})`;
  else if (ty.kind === "string") read = `d.str(v, ${k})`;
  else if (ty.kind === "json") read = `d.json(v, ${k})`;
  else read = `${ty.el}.decode(d.child(v, ${k}, "struct ${ty.el}"), d)`;
  if (f.optional) {
    if (ty.kind === "prim") return `if (d.has(v, ${k})) { o.${f.name} = ${read}; o.has_${f.name} = true; }`;
    return `if (d.has(v, ${k})) o.${f.name} = ${read};`;
  }
  if (f.default !== undefined) return `if (d.present(v, ${k})) o.${f.name} = ${read};`;
  return `o.${f.name} = ${read};`;
}

function writeValue(ty, expr) {
  if (ty.list) {
    const item = writeValue({ ...ty, list: false }, "a[i]");
    return `{ const a = ${expr}; w.beginArray(); for (let i = 0; i < a.length; i++) ${item} w.endArray(); }`;
  }
  if (ty.kind === "string") return `w.str(${expr});`;
  if (ty.kind === "json") return `w.value(${expr});`;
  if (ty.kind === "struct") return `${expr}.encode(w);`;
  if (ty.el === "bool") return `w.bool(${expr});`;
  if (ty.el === "i64") return `w.int(${expr});`;
  if (ty.el === "f64") return `w.float(${expr});`;
  return `w.uint(${expr});`; // u32, u64
}

function encodeField(f, ty) {
  const k = JSON.stringify(f.name);
  if (!f.optional) return `w.key(${k}); ${writeValue(ty, `this.${f.name}`)}`;
  const none = f.skip_if_none ? "" : ` else w.key(${k}).nul();`;
  if (ty.kind === "prim") return `if (this.has_${f.name}) { w.key(${k}); ${writeValue(ty, `this.${f.name}`)} }${none}`;
  return `{ const x = this.${f.name}; if (x !== null) { w.key(${k}); ${writeValue(ty, "x")} }${none} }`;
}

// Check everything first, so every problem is reported at once and nothing is written on error.
const FIELD_KEYS = new Set(["name", "type", "optional", "default", "skip_if_none"]);
const classes = [];
for (const [name, fields] of Object.entries(types)) {
  if (!IDENT.test(name)) { problem(`types.${name}: a type name must be an identifier`); continue; }
  if (reserved.has(name)) problem(`types.${name}: \`${name}\` is taken (an AssemblyScript type or a name assembly/a2e exports)`);
  if (!Array.isArray(fields)) { problem(`types.${name}: must be an array of fields`); continue; }
  const members = new Set(["decode", "encode"]);
  const parsed = [];
  for (const [i, f] of fields.entries()) {
    const where = `types.${name}.${isObj(f) && typeof f.name === "string" ? f.name : `[${i}]`}`;
    if (!isObj(f) || typeof f.name !== "string" || !IDENT.test(f.name)) { problem(`${where}: a field needs a \`name\` that is an identifier`); continue; }
    for (const key of Object.keys(f)) if (!FIELD_KEYS.has(key)) problem(`${where}: unknown key \`${key}\` (fields have ${[...FIELD_KEYS].join(", ")})`);
    for (const key of ["optional", "skip_if_none"]) if (f[key] !== undefined && typeof f[key] !== "boolean") problem(`${where}: \`${key}\` must be true or false`);
    if (f.skip_if_none && !f.optional) problem(`${where}: \`skip_if_none\` needs \`optional\``);
    const ty = parseType(f.type, where);
    if (!ty) continue;
    for (const member of [f.name, ...(f.optional && ty.kind === "prim" ? [`has_${f.name}`] : [])]) {
      if (members.has(member)) problem(`${where}: member \`${member}\` clashes with another member of ${name}`);
      members.add(member);
    }
    parsed.push({ f, ty, init: initExpr(f, ty, where) });
  }
  classes.push({ name, fields: parsed });
}
const seen = new Set();
const fns = [];
for (const [i, fn] of table.functions.entries()) {
  const where = `functions.${isObj(fn) && typeof fn.name === "string" ? fn.name : `[${i}]`}`;
  if (!isObj(fn) || typeof fn.name !== "string" || !IDENT.test(fn.name)) { problem(`${where}: a function needs a \`name\` that is an identifier`); continue; }
  if (seen.has(fn.name)) problem(`${where}: listed twice`);
  seen.add(fn.name);
  if (reserved.has(fn.name) || hasType(fn.name)) problem(`${where}: \`${fn.name}\` is taken (a type, an AssemblyScript global or a name assembly/a2e exports)`);
  if (typeof fn.grant !== "string") problem(`${where}: \`grant\` must be a string`);
  if (typeof fn.summary !== "string") problem(`${where}: \`summary\` must be a string`);
  if (!Array.isArray(fn.errors) || fn.errors.some((e) => typeof e !== "string")) problem(`${where}: \`errors\` must be an array of strings`);
  const req = parseType(fn.request, `${where}.request`, { allowList: false, structOnly: true });
  const res = parseType(fn.response, `${where}.response`, { structOnly: true });
  if (req && res) fns.push({ fn, req, res });
}
// assembly/a2e/index.ts builds info/warn/timeNow on some of the generated names.
const indexTs = join(root, "assembly/a2e/index.ts");
if (existsSync(indexTs)) {
  for (const m of readFileSync(indexTs, "utf8").matchAll(/import\s*\{([^}]*)\}\s*from\s*"\.\/host"/g)) {
    for (const n of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      if (!hasType(n) && !seen.has(n)) problem(`\`${n}\` is missing: assembly/a2e/index.ts uses it`);
    }
  }
}
stop();

const shownTable = relative(root, tablePath).startsWith("..") ? basename(tablePath) : relative(root, tablePath);
const out = [];
out.push(`// GENERATED by gen/gen-host.mjs from ${shownTable}; do not edit.`);
out.push(`// a2e ABI version ${table.abi_version}. Functions not called are not imported: AssemblyScript`);
out.push(`// compiles only what is reachable, so the module imports exactly the host functions it uses.`);
out.push("");
out.push(`import { Decoder, JsonKind, JsonValue, JsonWriter } from "./json";`);
out.push(`import { HostError, Result, requestMemory, takeEnvelope } from "./pdk";`);
out.push("");
out.push(`function decodeList<T>(a: JsonValue[], d: Decoder, item: (a: JsonValue[], i: i32, d: Decoder) => T): Array<T> {`);
out.push(`  const r = new Array<T>(0);`);
out.push(`  for (let i = 0; i < a.length; i++) r.push(item(a, i, d));`);
out.push(`  return r;`);
out.push(`}`);
out.push("");

for (const { name, fields } of classes) {
  out.push(`export class ${name} {`);
  for (const { f, ty, init } of fields) {
    out.push(`  ${f.name}: ${asType(f, ty)} = ${init};`);
    if (f.optional && ty.kind === "prim") out.push(`  has_${f.name}: bool = false;`);
  }
  out.push(`  static decode(v: JsonValue, d: Decoder): ${name} {`);
  out.push(`    const o = new ${name}();`);
  out.push(`    if (!d.object(v, "struct ${name}")) return o;`);
  for (const { f, ty } of fields) out.push(`    ${decodeField(f, ty)}`);
  out.push(`    return o;`);
  out.push(`  }`);
  out.push(`  encode(w: JsonWriter): void {`);
  out.push(`    w.beginObject();`);
  for (const { f, ty } of fields) out.push(`    ${encodeField(f, ty)}`);
  out.push(`    w.endObject();`);
  out.push(`  }`);
  out.push(`}`);
  out.push("");
}

for (const { fn, req, res } of fns) {
  const el = res.el;
  const R = res.list ? `Array<${el}>` : el;
  const errorList = ["PERMISSION_DENIED", "INVALID_INPUT", ...fn.errors, "INTERNAL"].join(", ");
  const summary = fn.summary.replace(/\*\//g, "*\\/").replace(/\s*\n\s*/g, " ");
  out.push(`@external(${JSON.stringify(table.namespace)}, ${JSON.stringify(fn.name)})`);
  out.push(`declare function raw_${fn.name}(request: u64): u64;`);
  out.push("");
  out.push(`/** ${summary} Grant \`${fn.grant}\`. Errors: ${errorList}. */`);
  out.push(`export function ${fn.name}(req: ${req.el}): Result<${R}> {`);
  out.push(`  const w = new JsonWriter();`);
  out.push(`  req.encode(w);`);
  out.push(`  const mem = requestMemory(w);`);
  out.push(`  const offset = raw_${fn.name}(mem.offset);`);
  out.push(`  mem.free();`);
  out.push(`  const env = takeEnvelope(offset);`);
  out.push(`  if (env.error !== null) return new Result<${R}>(null, env.error);`);
  out.push(`  const d = new Decoder();`);
  if (res.list) {
    out.push(`  const data = env.data!;`);
    out.push(`  if (data.kind != JsonKind.Arr) d.fail("invalid type: expected a sequence");`);
    out.push(`  const value = decodeList<${el}>(data.items, d, (a: JsonValue[], i: i32, d: Decoder): ${el} => ${el}.decode(a[i], d));`);
  } else {
    out.push(`  const value = ${el}.decode(env.data!, d);`);
  }
  out.push(`  if (d.error !== null) return new Result<${R}>(null, new HostError("INTERNAL", "host answered with an unexpected shape: " + d.error!));`);
  out.push(`  return new Result<${R}>(value, null);`);
  out.push(`}`);
  out.push("");
}

writeFileSync(outPath, out.join("\n"));
console.log(`wrote ${relative(process.cwd(), outPath) || outPath}: ${classes.length} types, ${fns.length} functions`);
