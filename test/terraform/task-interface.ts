import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/cli.ts';

/**
 * What the state machine definitions ask of their task functions (workflow-skew.test.ts): the
 * input fields they pass, the output fields they read, the error names they act on.
 */
export const DEFINITIONS_DIR = join(REPO_ROOT, 'terraform', 'modules', 'workflow', 'definitions');
export const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'workflow-task-interface.json');

export interface TaskInterface {
  /** Input fields a definition may pass (dotted paths of Parameters' keys). */
  readonly input: readonly string[];
  /** Output fields a definition may read from the task's result (dotted paths). */
  readonly output: readonly string[];
  /** Error names the task throws, which Retry and Catch may name. */
  readonly errors: readonly string[];
}

// biome-ignore lint/suspicious/noExplicitAny: an ASL definition is untyped JSON
export type State = Record<string, any>;

/** Errors of the services and of Step Functions itself, not of our tasks. */
const SERVICE_ERROR = /^(States|Lambda|Sfn)\./;

export interface Use {
  readonly task: string;
  readonly state: string;
  readonly kind: 'input' | 'output' | 'error';
  readonly name: string;
}

/** The task a state invokes: `${<task>_function_arn}` (the Terraform placeholder), else none. */
export const taskOf = (state: State) => /^\$\{(\w+)_function_arn\}$/.exec(String(state.Resource ?? ''))?.[1];

/** Every state of a definition, Map and Parallel states' own states included, by its path. */
export function allStates(states: Record<string, State>, prefix = ''): [string, State][] {
  return Object.entries(states).flatMap(([name, state]) => [
    [`${prefix}${name}`, state] as [string, State],
    ...allStates((state.ItemProcessor ?? state.Iterator)?.States ?? {}, `${prefix}${name}/`),
    ...((state.Branches ?? []) as State[]).flatMap((branch, i) =>
      allStates(branch.States, `${prefix}${name}[${i}]/`),
    ),
  ]);
}

/** Dotted paths of an object's keys (`.$` dropped), its leaves. */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [prefix];
  return Object.entries(value).flatMap(([key, inner]) =>
    key.endsWith('.$')
      ? [`${prefix}${key.slice(0, -2)}`]
      : keyPaths(inner, `${prefix}${key}.`).map((path) => path.replace(/\.$/, '')),
  );
}

/** Every string a definition reads (paths and intrinsic functions), not the ResultPaths it writes. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([key, inner]) => (key === 'ResultPath' ? [] : strings(inner)));
  return [];
}

/** The fields a text reads of the state's input, `$.<field>` (not `$$.`, the context object). */
const stateReads = (text: string) =>
  [...text.matchAll(/(?<![\w$])\$\.([A-Za-z_][\w.]*)/g)].map((m) => m[1]!.replace(/\.$/, ''));

/** Variables a Choice rule (And, Or, Not nested) tests with IsPresent, and the others it reads. */
function choiceReads(rule: State): { present: string[]; reads: string[] } {
  const nested = [...(rule.And ?? []), ...(rule.Or ?? []), ...(rule.Not ? [rule.Not] : [])] as State[];
  const inner = nested.map(choiceReads);
  const { Variable, IsPresent, Next, Comment, And, Or, Not, ...rest } = rule;
  const own = Variable === undefined ? [] : stateReads(String(Variable));
  return {
    // Present on the rule's branch: its own IsPresent test, and every one of an And (not of an Or
    // or a Not, which one absent field can satisfy).
    present: [
      ...(IsPresent === true ? own : []),
      ...(And ? (And as State[]).flatMap((r) => choiceReads(r).present) : []),
    ],
    reads: [
      ...(IsPresent === undefined ? own : []),
      ...strings(rest).flatMap(stateReads),
      ...inner.flatMap((r) => r.reads),
    ],
  };
}

/** Whether a state's result replaces its whole input (ResultPath absent or `$`), or OutputPath reshapes it. */
function replacesState(state: State): boolean {
  if (state.OutputPath !== undefined && state.OutputPath !== '$') return true;
  const whole = state.ResultPath === undefined || state.ResultPath === '$';
  if (state.Type === 'Pass') return whole && (state.Parameters !== undefined || state.Result !== undefined);
  return whole && ['Task', 'Map', 'Parallel'].includes(state.Type);
}

/** The field under `$` a ResultPath writes (`$.a.b` -> a), if any. */
const topField = (path: unknown) =>
  typeof path === 'string' ? /^\$\.([A-Za-z_]\w*)/.exec(path)?.[1] : undefined;

/**
 * Reads of a task's output where its result is the whole state (ResultPath absent or `$`): the
 * states after it read its fields as `$.<field>` (Choice variables, Parameters, a Map's paths, a
 * Fail state's CausePath and ErrorPath), until a state replaces the state. A field a later state
 * wrote (its ResultPath, a Catch's) is no longer the task's; one a Choice rule tested with
 * IsPresent is read only where it is present (the rule's branch), which a released task that
 * lacks it never reaches.
 */
function wholeStateReads(states: [string, State][], task: string, writer: string): Use[] {
  const byPath = new Map(states);
  const found: Use[] = [];
  const scope = writer.slice(0, writer.lastIndexOf('/') + 1);
  const seen = new Set<string>();
  const visit = (name: string | undefined, shadowed: ReadonlySet<string>) => {
    if (name === undefined || seen.has(scope + name)) return;
    seen.add(scope + name);
    const state = byPath.get(scope + name);
    if (!state) return;
    const {
      Choices,
      Default,
      Next,
      Catch,
      ResultPath,
      ItemProcessor,
      Iterator,
      Branches,
      Comment,
      Retry,
      ResultWriter,
      ...rest
    } = state;
    const rules = ((Choices ?? []) as State[]).map(choiceReads);
    const reads = [...strings(rest).flatMap(stateReads), ...rules.flatMap((r) => r.reads)];
    for (const read of new Set(reads))
      if (!shadowed.has(read.split('.')[0]!))
        found.push({ task, state: `${scope}${name}`, kind: 'output', name: read });
    if (replacesState(state)) return;
    const after = new Set(shadowed);
    const written = topField(ResultPath);
    if (written) after.add(written);
    visit(Next, after);
    visit(Default, after);
    for (const [i, rule] of ((Choices ?? []) as State[]).entries())
      visit(rule.Next, new Set([...after, ...rules[i]!.present.map((p) => p.split('.')[0]!)]));
    for (const handler of (Catch ?? []) as State[]) {
      const caught = topField(handler.ResultPath);
      if (caught) visit(handler.Next, new Set([...after, caught]));
    }
  };
  visit(byPath.get(writer)!.Next, new Set());
  return found;
}

/** What a definition asks of its tasks: inputs it passes, outputs it reads, errors it names. */
export function uses(definition: State): Use[] {
  const states = allStates(definition.States);
  const found: Use[] = [];
  // Result paths each task writes to: reads below them are reads of its output.
  const writers = new Map<string, Set<string>>();
  for (const [name, state] of states) {
    const task = taskOf(state);
    if (!task) continue;
    const parameters = state.Parameters ?? state.Arguments;
    if (parameters !== undefined)
      for (const path of keyPaths(parameters)) found.push({ task, state: name, kind: 'input', name: path });
    for (const rule of [...(state.Retry ?? []), ...(state.Catch ?? [])] as State[])
      for (const error of rule.ErrorEquals as string[])
        if (!SERVICE_ERROR.test(error)) found.push({ task, state: name, kind: 'error', name: error });
    if (typeof state.ResultPath === 'string' && state.ResultPath !== '$')
      writers.set(state.ResultPath, (writers.get(state.ResultPath) ?? new Set()).add(task));
    else found.push(...wholeStateReads(states, task, name));
  }
  // Reads anywhere in the definition (Choice variables, Parameters, InputPath, intrinsic arguments).
  const everything = strings(definition.States);
  for (const [resultPath, tasks] of writers) {
    const escaped = resultPath.replace(/[.$[\]]/g, (c) => `\\${c}`);
    const reads = new Set(
      everything.flatMap((text) =>
        [...text.matchAll(new RegExp(`${escaped}\\.([A-Za-z_][\\w.]*)`, 'g'))].map((m) => m[1]!),
      ),
    );
    for (const read of reads)
      found.push({ task: [...tasks].sort().join('|'), state: resultPath, kind: 'output', name: read });
  }
  return found;
}

/** The uses the released tasks do not know, one line each. */
export function unknownTo(released: Record<string, TaskInterface>, used: readonly Use[]): string[] {
  const problems: string[] = [];
  for (const use of used) {
    const tasks = use.task.split('|');
    const known = (task: string) => {
      const spec = released[task];
      if (!spec) return false;
      if (use.kind === 'error') return spec.errors.includes(use.name);
      const fields = use.kind === 'input' ? spec.input : spec.output;
      // A field read whole, or a part of one the task returns as a whole, is known.
      return fields.some(
        (field) => field === use.name || use.name.startsWith(`${field}.`) || field.startsWith(`${use.name}.`),
      );
    };
    // A result path several tasks write: some task writing it must know the field.
    if (!tasks.some(known))
      problems.push(
        `${use.state}: ${use.kind} ${use.name} is unknown to the released ${tasks.join(' or ')} task${tasks.length > 1 ? 's' : ''}`,
      );
  }
  return problems;
}

/** The definitions of terraform/modules/workflow/definitions, by file name. */
export const definitions = readdirSync(DEFINITIONS_DIR)
  .filter((file) => file.endsWith('.asl.json'))
  .map((file) => [file, JSON.parse(readFileSync(join(DEFINITIONS_DIR, file), 'utf8')) as State] as const);
