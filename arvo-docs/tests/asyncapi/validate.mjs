// Validates AsyncAPI documents with the real @asyncapi/parser (its default rules: the AsyncAPI
// JSON Schema and the Spectral AsyncAPI ruleset). Exits non-zero when a document cannot be read
// or parsed, or when any diagnostic is an error or a warning (severity 0 or 1); prints every
// diagnostic. Usage: node validate.mjs FILE...
import { readFile } from 'node:fs/promises';
import { Parser } from '@asyncapi/parser';

const SEVERITY = ['error', 'warning', 'info', 'hint'];
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node validate.mjs FILE...');
  process.exit(2);
}

const parser = new Parser();
let failed = false;
for (const file of files) {
  let text;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    console.error(`${file}: cannot read: ${e.message}`);
    failed = true;
    continue;
  }
  const { document, diagnostics } = await parser.parse(text, { source: file });
  let bad = 0;
  for (const d of diagnostics) {
    const where = Array.isArray(d.path) && d.path.length ? ` at ${d.path.join('.')}` : '';
    console.log(`${file}: ${SEVERITY[d.severity] ?? d.severity} ${d.code}${where}: ${d.message}`);
    if (d.severity <= 1) bad += 1;
  }
  if (document === undefined) {
    console.error(`${file}: not a valid AsyncAPI document`);
    failed = true;
  } else if (bad > 0) {
    console.error(`${file}: ${bad} error(s) or warning(s)`);
    failed = true;
  } else {
    console.log(`${file}: valid AsyncAPI ${document.version()}, ${document.channels().length} channels, ${document.operations().length} operations, ${document.allMessages().length} messages, 0 errors, 0 warnings`);
  }
}
process.exit(failed ? 1 : 0);
