import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { REPO_ROOT } from '../support/cli.ts';

export const TERRAFORM_DIR = join(REPO_ROOT, 'terraform');

// hcl2json's JSON form of HCL: blocks are arrays of bodies, expressions are strings.
// biome-ignore lint/suspicious/noExplicitAny: parsed HCL is untyped by nature
export type Body = Record<string, any>;

/** One Terraform module directory: its files' blocks merged, as Terraform itself merges them. */
export interface TfDir {
  /** Relative to terraform/, e.g. `modules/imgpipe`. */
  readonly path: string;
  readonly files: string[];
  /** resource[type][name] -> body (first and only block of that address). */
  readonly resource: Record<string, Record<string, Body>>;
  readonly data: Record<string, Record<string, Body>>;
  readonly variable: Record<string, Body>;
  readonly output: Record<string, Body>;
  readonly module: Record<string, Body>;
  readonly locals: Body;
  readonly terraform: Body[];
  /** `removed` blocks (resources Terraform forgets), in file order. */
  readonly removed: Body[];
}

function tfFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...tfFiles(path));
    else if (entry.name.endsWith('.tf')) found.push(path);
  }
  return found.sort();
}

/** The expression inside `${...}` when the braces opened first close last; else undefined. */
function wholeExpression(text: string): string | undefined {
  if (!text.startsWith('$' + '{') || !text.endsWith('}')) return undefined;
  let depth = 0;
  for (let i = 1; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i === text.length - 1 ? text.slice(2, -1) : undefined;
  }
  return undefined;
}

/**
 * hcl2json writes every expression as a template, `"${var.x}"`; a value that is one expression and
 * nothing else is unwrapped to `"var.x"` so assertions read like the HCL. Templates with text or
 * several interpolations (`"${a}/*"`) stay as they are.
 */
function unwrap(value: unknown): unknown {
  if (typeof value === 'string') return wholeExpression(value) ?? value;
  if (Array.isArray(value)) return value.map(unwrap);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [wholeExpression(key) ?? key, unwrap(inner)]),
    );
  return value;
}

/** Every .tf file under terraform/, parsed with HashiCorp's HCL parser, grouped by directory. */
export async function loadTerraform(): Promise<Map<string, TfDir>> {
  const dirs = new Map<string, TfDir>();
  for (const file of tfFiles(TERRAFORM_DIR)) {
    const path = relative(TERRAFORM_DIR, join(file, '..'));
    const json = unwrap(await parse(relative(REPO_ROOT, file), readFileSync(file, 'utf8'))) as Body;
    let dir = dirs.get(path);
    if (!dir) {
      dir = {
        path,
        files: [],
        resource: {},
        data: {},
        variable: {},
        output: {},
        module: {},
        locals: {},
        terraform: [],
        removed: [],
      };
      dirs.set(path, dir);
    }
    dir.files.push(relative(TERRAFORM_DIR, file));
    for (const kind of ['resource', 'data'] as const) {
      for (const [type, named] of Object.entries<Record<string, Body[]>>(json[kind] ?? {})) {
        dir[kind][type] ??= {};
        for (const [name, [body]] of Object.entries(named)) dir[kind][type]![name] = body!;
      }
    }
    for (const kind of ['variable', 'output', 'module'] as const) {
      for (const [name, [body]] of Object.entries<Body[]>(json[kind] ?? {})) dir[kind][name] = body!;
    }
    for (const block of json.locals ?? []) Object.assign(dir.locals, block);
    dir.terraform.push(...(json.terraform ?? []));
    dir.removed.push(...(json.removed ?? []));
  }
  return dirs;
}

/**
 * A file of bare HCL attributes, such as a `-backend-config` file (`key = "..."`), parsed like the
 * .tf files: an object of its attributes.
 */
export async function loadAttributes(path: string): Promise<Body> {
  return unwrap(await parse(relative(REPO_ROOT, path), readFileSync(path, 'utf8'))) as Body;
}

/** The policy document an argument such as `policy = data.aws_iam_policy_document.x.json` names. */
export function documentOf(tf: TfDir, policy: unknown): Body {
  const match = String(policy).match(
    /^data\.aws_iam_policy_document\.(\w+)(\[0\]|\[each\.key\]|\["[^"]*"\])?\.json$/,
  );
  if (!match) throw new Error(`not a policy document reference: ${String(policy)}`);
  const document = tf.data.aws_iam_policy_document?.[match[1]!];
  if (!document) throw new Error(`${tf.path} has no data.aws_iam_policy_document.${match[1]}`);
  return withSources(tf, document);
}

/**
 * A document with the statements of its `source_policy_documents` merged in, as AWS applies them.
 * A source given by a variable or a module output (the workflow module's `var.pipeline_policy_json`,
 * the imgpipe module's pipeline document, the s3-bucket module's `s3_bucket_policy_json`) is
 * checked in the module that writes it, and left out here; so is
 * the choice in a conditional list (`cond ? [a] : []`): every document it names is merged.
 */
function withSources(tf: TfDir, document: Body): Body {
  const raw = document.source_policy_documents ?? [];
  const sources = Array.isArray(raw)
    ? (raw as string[]).map((source) => String(source).replace(/^\$\{(.*)\}$/, '$1'))
    : [...String(raw).matchAll(/data\.aws_iam_policy_document\.\w+(?:\[0\])?\.json/g)].map((m) => m[0]);
  const local = sources.filter((source) => !source.startsWith('var.') && !source.startsWith('module.'));
  if (local.length === 0) return document;
  const merged: Body[] = [];
  for (const source of local) merged.push(...statements(documentOf(tf, source)));
  return { ...document, statement: [...merged, ...(document.statement ?? [])] };
}

/** The statements of a policy document, static and dynamic (their `content`), flattened. */
export function statements(document: Body): Body[] {
  const found: Body[] = [...(document.statement ?? [])];
  for (const use of document.dynamic?.statement ?? []) found.push(...(use.content ?? []));
  return found;
}

/** Blocks of a body, static and dynamic (`dynamic "name" { content { ... } }`). */
export function blocks(body: Body, name: string): Body[] {
  const found: Body[] = [...(body[name] ?? [])];
  for (const use of body.dynamic?.[name] ?? []) found.push(...(use.content ?? []));
  return found;
}

/**
 * Whether a command is on PATH. Unlike test/support/tools.ts `hasTool`, this never throws: the one
 * tool the Terraform tests use, the terraform CLI, cannot be installed by .ci/run (see its use).
 */
export function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** `${` in an expected interpolation, without a template string's placeholder. */
export const DOLLAR = '$';

/**
 * A policy's text made concrete: each expression of `values` (e.g. `module.output_bucket.s3_bucket_arn`)
 * replaced by its value, whether the text is that expression alone or a template holding it.
 */
export function concrete(text: string, values: Readonly<Record<string, string>>): string {
  return (
    values[text] ??
    Object.entries(values).reduce((out, [name, value]) => out.replaceAll(`${DOLLAR}{${name}}`, value), text)
  );
}

/**
 * True if one of the statements allows `action` on `arn` (an IAM resource pattern: `*` is any text).
 * Deny statements are left out: they narrow what the others allow (terraform test checks them).
 */
export function allows(
  policy: readonly Body[],
  action: string,
  arn: string,
  values: Readonly<Record<string, string>>,
): boolean {
  const glob = (pattern: string) =>
    new RegExp(
      `^${pattern
        .split('*')
        .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
  return policy.some(
    (statement) =>
      statement.effect !== 'Deny' &&
      (statement.actions as string[]).includes(action) &&
      (statement.resources as string[]).some((resource) => glob(concrete(resource, values)).test(arn)),
  );
}
