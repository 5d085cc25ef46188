// The JavaScript side of arvo-runtime/tests/js_oracle.rs: the reference's primitives as the
// reference computes them, in the engine it runs on (Node.js), for a differential test of the Rust
// ports (arvo_rules, the event JSON reader and writer).
//
// Reads one JSON array of requests `{"op": <name>, "s": <string>}` on stdin and writes one JSON
// array of answers, in order, on stdout. An answer is `{"ok": <value>}`, or `{"err": <message>}`
// when the JavaScript call throws. The ops and the JavaScript each one runs:
//   trim          s.trim()
//   cleanString   the reference's cleanString (split on \n, trim, drop empty lines, join)
//   eventType     /^[a-z0-9]+(\.[a-z0-9]+)+\.[a-z0-9]+$/.test(s)
//   domain        /^[a-z0-9.]+$/.test(s)
//   version       /^\d+\.\d+\.\d+$/.test(s)
//   extName       /^[a-z0-9]+$/.test(s)
//   encodeURI     encodeURI(s)
//   decodeURI     decodeURI(s)
//   validateURI   the reference's validateURI: s === encodeURI(decodeURI(s)), false if it throws
//   datetime      zod 3's z.string().datetime({ offset: true }).safeParse(s).success
//   number        String(n), n the double whose IEEE 754 bits are the 16 hex digits s
//   json          JSON.stringify(JSON.parse(s))
//   deflate       the reference's subject encoding of the text s: pako.deflate of its UTF-8 bytes
//                 (zlib wrapper, level 6), standard base64 with padding
//   inflate       the reference's subject decoding: Buffer.from(s, "base64") (lenient), then
//                 pako.inflate (zlib or gzip wrapper), then the bytes as UTF-8 text
//   gzip          s's UTF-8 bytes in a gzip wrapper (pako.gzip), base64: an input for inflate
//   zod           s is JSON {"schema": <a zod expression, e.g. "z.object({p0: z.string()})">,
//                 "data": <any JSON>}: the schema's JSON Schema as the reference exports it
//                 (zod-to-json-schema 3.25.0, defaults), and schema.safeParse(data): the issues as
//                 JSON.stringify writes them (null on success) and the parsed data (null on failure)
//   deflateHex    the bytes written in hex in s, deflated and in base64 as deflate does: an input
//                 for inflate whose bytes need not be UTF-8
// The pako the reference (arvo-core 3.0.28) runs with, 2.1.0: from 2.2.0 on, pako no longer reads
// bytes after a zlib stream as a further stream, which the reference does.
import pako from "pako-reference";
import { z } from "zod";
import { zodToJsonSchema } from "zod-to-json-schema-reference";

const datetime = z.string().datetime({ offset: true });

function number(hex) {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return String(view.getFloat64(0));
}

const schemas = new Map();
function zod(s) {
  const { schema: expr, data } = JSON.parse(s);
  let schema = schemas.get(expr);
  if (!schema) {
    schema = new Function("z", `return ${expr};`)(z);
    schemas.set(expr, schema);
  }
  const parsed = schema.safeParse(data);
  return {
    jsonSchema: zodToJsonSchema(schema),
    issues: parsed.success ? null : JSON.stringify(parsed.error.issues),
    data: parsed.success ? JSON.stringify(parsed.data) : null,
  };
}

const ops = {
  trim: (s) => s.trim(),
  cleanString: (s) =>
    s
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line)
      .join("\n"),
  eventType: (s) => /^[a-z0-9]+(\.[a-z0-9]+)+\.[a-z0-9]+$/.test(s),
  domain: (s) => /^[a-z0-9.]+$/.test(s),
  version: (s) => /^\d+\.\d+\.\d+$/.test(s),
  extName: (s) => /^[a-z0-9]+$/.test(s),
  encodeURI: (s) => encodeURI(s),
  decodeURI: (s) => decodeURI(s),
  validateURI: (s) => {
    try {
      return s === encodeURI(decodeURI(s));
    } catch {
      return false;
    }
  },
  datetime: (s) => datetime.safeParse(s).success,
  number,
  json: (s) => JSON.stringify(JSON.parse(s)),
  deflate: (s) => Buffer.from(pako.deflate(Buffer.from(s, "utf8"))).toString("base64"),
  inflate: (s) => Buffer.from(pako.inflate(Buffer.from(s, "base64"))).toString("utf8"),
  zod,
  deflateHex: (s) => Buffer.from(pako.deflate(Buffer.from(s, "hex"))).toString("base64"),
  gzip: (s) => Buffer.from(pako.gzip(Buffer.from(s, "utf8"))).toString("base64"),
};

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const requests = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const answers = requests.map(({ op, s }) => {
  const f = ops[op];
  if (!f) throw new Error(`unknown op ${op}`);
  try {
    return { ok: f(s) };
  } catch (e) {
    // pako throws its messages as plain strings, not Error objects.
    return { err: String(e && e.message ? e.message : e) };
  }
});
process.stdout.write(JSON.stringify(answers));
