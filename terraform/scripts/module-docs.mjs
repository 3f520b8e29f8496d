#!/usr/bin/env node
// Writes the inputs and outputs tables of each module's README.md from its variables.tf and
// outputs.tf (the part between the BEGIN_TF_DOCS and END_TF_DOCS markers; the rest of the README is
// prose kept by hand), like terraform-docs does, but with HashiCorp's own HCL parser from npm.
//
//   node terraform/scripts/module-docs.mjs           rewrite the tables
//   node terraform/scripts/module-docs.mjs --check   exit 1 if a README is out of date
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';

const terraformDir = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The directories whose README carries generated tables. */
export const MODULE_DIRS = [
  'modules/imgpipe',
  'modules/imgpipe/modules/s3-bucket',
  'modules/imgpipe/modules/ecr-repository',
  'modules/imgpipe/modules/kms-key',
  'modules/api',
  'modules/workflow',
  'modules/transform',
  'bootstrap',
];

export const BEGIN = '<!-- BEGIN_TF_DOCS -->';
export const END = '<!-- END_TF_DOCS -->';

/** `${number}` -> `number`: hcl2json wraps every expression in an interpolation. */
function expression(value) {
  return typeof value === 'string' && value.startsWith('${') && value.endsWith('}') ? value.slice(2, -1) : value;
}

function cell(text) {
  return String(text).replace(/\s+/g, ' ').trim().replaceAll('|', '\\|');
}

function code(text) {
  return `\`${cell(text).replaceAll('`', "'")}\``;
}

/** A multi-line type constraint on one line: `object({ a = string, b = number })`. */
function renderType(type) {
  const lines = String(expression(type ?? 'any'))
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  let text = lines[0] ?? 'any';
  for (let i = 1; i < lines.length; i++) {
    const opens = /[({[]$/.test(lines[i - 1]);
    const closes = /^[)}\]]/.test(lines[i]);
    text += opens || closes ? ` ${lines[i]}` : `, ${lines[i]}`;
  }
  return code(text);
}

function renderDefault(value) {
  if (value === null) return code('null');
  const raw = expression(value);
  if (raw !== value) return code(raw);
  return code(JSON.stringify(value).replaceAll('","', '", "').replaceAll('":', '" = '));
}

async function blocks(dir, file, kind) {
  const path = join(dir, file);
  if (!existsSync(path)) return [];
  const json = await parse(path, readFileSync(path, 'utf8'));
  return Object.entries(json[kind] ?? {}).map(([name, [body]]) => ({ name, ...body }));
}

/** The generated part of a module's README, markers included. */
export async function renderTables(dir) {
  const variables = await blocks(dir, 'variables.tf', 'variable');
  const outputs = await blocks(dir, 'outputs.tf', 'output');
  const lines = [BEGIN, '## Inputs', ''];
  lines.push('| Name | Description | Type | Default | Required |', '| --- | --- | --- | --- | :---: |');
  for (const v of [...variables].sort((a, b) => a.name.localeCompare(b.name))) {
    const required = !('default' in v);
    lines.push(
      `| <a name="input_${v.name}"></a> \`${v.name}\` | ${cell(v.description ?? '')} | ${renderType(v.type)} | ${required ? 'n/a' : renderDefault(v.default)} | ${required ? 'yes' : 'no'} |`,
    );
  }
  lines.push('', '## Outputs', '', '| Name | Description |', '| --- | --- |');
  for (const o of [...outputs].sort((a, b) => a.name.localeCompare(b.name))) {
    lines.push(`| <a name="output_${o.name}"></a> \`${o.name}\` | ${cell(o.description ?? '')} |`);
  }
  lines.push(END);
  return lines.join('\n');
}

/** The README with its tables regenerated; throws when the markers are missing. */
export async function updatedReadme(dir) {
  const path = join(dir, 'README.md');
  const readme = readFileSync(path, 'utf8');
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${path} has no ${BEGIN} ... ${END} section`);
  return readme.slice(0, start) + (await renderTables(dir)) + readme.slice(end + END.length);
}

async function main() {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const moduleDir of MODULE_DIRS) {
    const dir = join(terraformDir, moduleDir);
    const path = join(dir, 'README.md');
    const next = await updatedReadme(dir);
    if (next === readFileSync(path, 'utf8')) continue;
    stale++;
    if (check) console.error(`${relative(process.cwd(), path)} is out of date: run node terraform/scripts/module-docs.mjs`);
    else {
      writeFileSync(path, next);
      console.log(`updated ${relative(process.cwd(), path)}`);
    }
  }
  if (check && stale > 0) process.exit(1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
