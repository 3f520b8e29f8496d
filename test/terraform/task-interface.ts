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
